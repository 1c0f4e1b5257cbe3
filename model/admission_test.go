package model

import (
	"fmt"
	"slices"
	"testing"
)

func TestAdmissionNeedsANameOrAKey(t *testing.T) {
	a := NewAdmission(AdmissionOptions{Named: []string{"EURUSD_otc"}, Max: 2})
	if !a.Admit("EURUSD_otc") {
		t.Fatal("a named asset was refused")
	}
	for range 3 {
		if a.Admit("JUNK") {
			t.Fatal("a name no key vouches for was admitted")
		}
	}
	if got := a.Candidates(10); !slices.Equal(got, []string{"JUNK"}) {
		t.Fatalf("candidates %v", got)
	}
	if added := a.Vouch("GBPUSD_otc", "JUNK", "\x1b[2J", "USDJPY_otc", "AUDCAD_otc"); !slices.Equal(added, []string{"GBPUSD_otc", "JUNK"}) {
		t.Fatalf("vouched %v: want two (Max 2), no control characters", added)
	}
	if !a.Admit("JUNK") || a.Admit("USDJPY_otc") {
		t.Fatal("admission after vouching is wrong")
	}
	st := a.Stats()
	if st.Admitted != 3 || st.Refused != 4 || st.LastRefused != "USDJPY_otc" || st.Candidates != 1 {
		t.Fatalf("stats %+v", st)
	}
	a.Forget("JUNK", "EURUSD_otc")
	if a.Admitted("JUNK") || !a.Admitted("EURUSD_otc") {
		t.Fatal("Forget dropped a named asset or kept an idle one")
	}
}

func TestOpenAdmissionIsBounded(t *testing.T) {
	a := NewAdmission(AdmissionOptions{Named: []string{"N"}, Max: 100, Open: true, MaxCandidates: 50})
	admitted := 0
	for i := range 20_000 {
		if a.Admit(fmt.Sprintf("junk%d", i)) {
			admitted++
		}
	}
	if admitted != 100 || !a.Admit("N") || a.Admit("\x1b]0;x\x07") {
		t.Fatalf("admitted %d of 20,000 junk names; named %v", admitted, a.Admitted("N"))
	}
	if st := a.Stats(); st.Refused != 19_901 || st.Candidates != 50 {
		t.Fatalf("stats %+v", st)
	}
	if n := testing.AllocsPerRun(100, func() { a.Admit("junk5") }); n != 0 {
		t.Fatalf("admitting a known name allocates %v", n)
	}
}
