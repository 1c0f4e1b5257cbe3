package model

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

var nowUs = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixMicro()

func TestDecodeAcceptsEveryWireShape(t *testing.T) {
	cases := []struct {
		name     string
		payload  string
		fallback string
		want     Tick
	}{
		{"candle-as-tick",
			`{"asset":"EURUSD_otc","timestamp":1729760400,"open":1.0823,"high":1.0825,"low":1.0821,"close":1.0824,"volume":0,"date":"2024-10-24T09:00:00+00:00"}`,
			"", Tick{Asset: "EURUSD_otc", Price: 1.0824, UnixMicro: 1729760400000000, Kind: KindCandle, Open: 1.0823, High: 1.0825, Low: 1.0821}},
		{"plain tick", `{"asset":"EURUSD_otc","price":1.08241,"timestamp":1729760400}`,
			"", Tick{Asset: "EURUSD_otc", Price: 1.08241, UnixMicro: 1729760400000000}},
		{"price under quote", `{"asset":"A","quote":2.5,"timestamp":1729760400}`, "", Tick{Asset: "A", Price: 2.5, UnixMicro: 1729760400000000}},
		{"price under value", `{"asset":"A","value":2.5,"timestamp":1729760400}`, "", Tick{Asset: "A", Price: 2.5, UnixMicro: 1729760400000000}},
		{"price before close", `{"close":3,"price":2,"asset":"A","timestamp":1729760400}`, "", Tick{Asset: "A", Price: 2, UnixMicro: 1729760400000000}},
		{"close before quote", `{"quote":3,"close":2,"asset":"A","timestamp":1729760400}`, "", Tick{Asset: "A", Price: 2, UnixMicro: 1729760400000000}},
		{"null price falls through", `{"price":null,"value":4,"asset":"A","timestamp":1729760400}`, "", Tick{Asset: "A", Price: 4, UnixMicro: 1729760400000000}},
		{"float seconds", `{"asset":"EURUSD_otc","price":1.15838,"timestamp":1752960407.177}`, "",
			Tick{Asset: "EURUSD_otc", Price: 1.15838, UnixMicro: 1752960407177000}},
		{"integer milliseconds", `{"asset":"A","price":1.1,"timestamp":1752960407177}`, "", Tick{Asset: "A", Price: 1.1, UnixMicro: 1752960407177000}},
		{"microseconds", `{"asset":"A","price":1.1,"timestamp":1752960407177123}`, "", Tick{Asset: "A", Price: 1.1, UnixMicro: 1752960407177123}},
		{"ISO with offset", `{"asset":"A","price":1.1,"timestamp":"2024-10-24T09:00:00+00:00"}`, "", Tick{Asset: "A", Price: 1.1, UnixMicro: 1729760400000000}},
		{"ISO Z with millis", `{"asset":"A","price":1.1,"timestamp":"2024-10-24T09:00:00.250Z"}`, "", Tick{Asset: "A", Price: 1.1, UnixMicro: 1729760400250000}},
		{"ISO with space", `{"asset":"A","price":1.1,"timestamp":"2024-10-24 09:00:00Z"}`, "", Tick{Asset: "A", Price: 1.1, UnixMicro: 1729760400000000}},
		{"ISO without zone is UTC", `{"asset":"A","price":1.1,"timestamp":"2024-10-24T11:00:00"}`, "", Tick{Asset: "A", Price: 1.1, UnixMicro: 1729767600000000}},
		{"ISO other offset", `{"asset":"A","price":1.1,"timestamp":"2024-10-24T11:00:00+02:00"}`, "", Tick{Asset: "A", Price: 1.1, UnixMicro: 1729760400000000}},
		{"epoch as string", `{"asset":"A","price":"1.1","timestamp":"1729760400"}`, "", Tick{Asset: "A", Price: 1.1, UnixMicro: 1729760400000000}},
		{"asset from channel", `{"price":1.1,"timestamp":1729760400}`, "USDJPY_otc", Tick{Asset: "USDJPY_otc", Price: 1.1, UnixMicro: 1729760400000000}},
		{"empty asset uses fallback", `{"asset":"","price":1.1,"timestamp":1729760400}`, "X", Tick{Asset: "X", Price: 1.1, UnixMicro: 1729760400000000}},
		{"escaped asset", `{"asset":"EUR\u0055SD","price":1.1,"timestamp":1729760400}`, "", Tick{Asset: "EURUSD", Price: 1.1, UnixMicro: 1729760400000000}},
		{"escaped key", `{"\u0070rice":1.1,"asset":"A","timestamp":1729760400}`, "", Tick{Asset: "A", Price: 1.1, UnixMicro: 1729760400000000}},
		{"unknown nested fields", `{"meta":{"src":[1,{"x":"}"}],"ok":true},"asset":"A","price":1e0,"timestamp":1729760400,"n":null}`, "",
			Tick{Asset: "A", Price: 1, UnixMicro: 1729760400000000}},
		{"whitespace", " \n{ \"asset\" : \"A\" ,\t\"price\" : 1.5 , \"timestamp\" : 1729760400 } \n", "", Tick{Asset: "A", Price: 1.5, UnixMicro: 1729760400000000}},
		{"duplicate key: last wins", `{"asset":"A","price":1,"price":2,"timestamp":1729760400}`, "", Tick{Asset: "A", Price: 2, UnixMicro: 1729760400000000}},
		{"float seconds with microseconds", `{"asset":"A","price":1.1,"timestamp":1752960407.177123}`, "", Tick{Asset: "A", Price: 1.1, UnixMicro: 1752960407177123}},
		{"exponent price", `{"asset":"A","price":1.5e2,"timestamp":1729760400}`, "", Tick{Asset: "A", Price: 150, UnixMicro: 1729760400000000}},
		// QuFLX v2 on market_data: the asset only in the payload, float seconds, a source.
		{"v2 tick", `{"timestamp": 1678886400.123, "asset": "EURUSD", "price": 1.0543, "source": "pocketoption"}`, "",
			Tick{Asset: "EURUSD", Price: 1.0543, UnixMicro: 1678886400123000}},
		{"v2 closed candle", `{"timestamp": 1678886400, "asset": "EURUSD", "open": 1.05, "high": 1.06, "low": 1.04, "close": 1.055, "volume": 12, "timeframe": "1m", "is_closed": true}`, "",
			Tick{Asset: "EURUSD", Price: 1.055, UnixMicro: 1678886400000000, Kind: KindCandle, Open: 1.05, High: 1.06, Low: 1.04,
				Volume: 12, Timeframe: TF1m, Closed: true}},
		{"v2 open candle, odd timeframe ignored", `{"timestamp": 1678886400, "asset": "EURUSD", "open": 1.05, "high": 1.06, "low": 1.04, "close": 1.055, "timeframe": "7x", "is_closed": false}`, "",
			Tick{Asset: "EURUSD", Price: 1.055, UnixMicro: 1678886400000000, Kind: KindCandle, Open: 1.05, High: 1.06, Low: 1.04}},
	}
	var d Decoder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := d.DecodeString(c.payload, c.fallback, nowUs)
			if err != nil {
				t.Fatalf("Decode(%s): %v", c.payload, err)
			}
			if got != c.want {
				t.Fatalf("Decode(%s)\n got %+v\nwant %+v", c.payload, got, c.want)
			}
		})
	}
}

func TestDecodeRejectsBadInputWithTypedErrors(t *testing.T) {
	future := strconv.FormatInt(nowUs/1e6+2*3600, 10)
	cases := []struct {
		name    string
		payload string
		want    error
	}{
		{"empty", ``, ErrNotJSON},
		{"not json", `hello`, ErrNotJSON},
		{"array", `[1,2]`, ErrNotJSON},
		{"truncated", `{"asset":"A","price":1.1`, ErrNotJSON},
		{"trailing comma", `{"asset":"A","price":1.1,}`, ErrNotJSON},
		{"trailing garbage", `{"asset":"A","price":1.1,"timestamp":1729760400}x`, ErrNotJSON},
		{"two objects", `{"price":1}{"price":2}`, ErrNotJSON},
		{"bad escape", `{"asset":"\x","price":1,"timestamp":1729760400}`, ErrNotJSON},
		{"raw control char", "{\"asset\":\"a\x01\",\"price\":1,\"timestamp\":1729760400}", ErrNotJSON},
		{"leading zero", `{"price":01,"timestamp":1729760400}`, ErrNotJSON},
		{"bare dot", `{"price":1.,"timestamp":1729760400}`, ErrNotJSON},
		{"deep nesting", `{"a":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`, ErrNotJSON},
		{"no price", `{"asset":"A","timestamp":1729760400}`, ErrNoPrice},
		{"only null prices", `{"asset":"A","price":null,"close":null,"timestamp":1729760400}`, ErrNoPrice},
		{"NaN price", `{"asset":"A","price":NaN,"timestamp":1729760400}`, ErrBadPrice},
		{"Infinity price", `{"asset":"A","price":Infinity,"timestamp":1729760400}`, ErrBadPrice},
		{"-Infinity price", `{"asset":"A","price":-Infinity,"timestamp":1729760400}`, ErrBadPrice},
		{"overflowing price", `{"asset":"A","price":1e999,"timestamp":1729760400}`, ErrBadPrice},
		{"negative price", `{"asset":"A","price":-1.08,"timestamp":1729760400}`, ErrBadPrice},
		{"zero price", `{"asset":"A","price":0,"timestamp":1729760400}`, ErrBadPrice},
		{"huge price", `{"asset":"A","price":1e13,"timestamp":1729760400}`, ErrBadPrice},
		{"text price", `{"asset":"A","price":"abc","timestamp":1729760400}`, ErrBadPrice},
		{"bool price", `{"asset":"A","price":true,"timestamp":1729760400}`, ErrBadPrice},
		{"object price", `{"asset":"A","price":{"v":1},"timestamp":1729760400}`, ErrBadPrice},
		{"inconsistent candle", `{"asset":"A","open":1,"high":1.1,"low":1.2,"close":1.15,"timestamp":1729760400}`, ErrBadPrice},
		{"close above high", `{"asset":"A","open":1,"high":1.1,"low":0.9,"close":1.5,"timestamp":1729760400}`, ErrBadPrice},
		{"NaN high", `{"asset":"A","open":1,"high":NaN,"low":0.9,"close":1,"timestamp":1729760400}`, ErrBadPrice},
		{"no timestamp", `{"asset":"A","price":1.1}`, ErrNoTimestamp},
		{"tiny timestamp", `{"asset":"A","price":1.1,"timestamp":5}`, ErrBadTimestamp},
		{"1998", `{"asset":"A","price":1.1,"timestamp":900000000}`, ErrBadTimestamp},
		{"1998 in ms", `{"asset":"A","price":1.1,"timestamp":900000000000}`, ErrBadTimestamp},
		{"negative timestamp", `{"asset":"A","price":1.1,"timestamp":-1729760400}`, ErrBadTimestamp},
		{"NaN timestamp", `{"asset":"A","price":1.1,"timestamp":NaN}`, ErrBadTimestamp},
		{"text timestamp", `{"asset":"A","price":1.1,"timestamp":"yesterday"}`, ErrBadTimestamp},
		{"future timestamp", `{"asset":"A","price":1.1,"timestamp":` + future + `}`, ErrFutureTimestamp},
		{"no asset anywhere", `{"price":1.1,"timestamp":1729760400}`, ErrNoAsset},
		{"numeric asset", `{"asset":42,"price":1.1,"timestamp":1729760400}`, ErrNoAsset},
		{"absurd asset", `{"asset":"` + strings.Repeat("A", 100) + `","price":1.1,"timestamp":1729760400}`, ErrBadAsset},
		{"window title in the asset", `{"asset":"\u001b]0;pwned\u0007EURUSD","price":1.1,"timestamp":1729760400}`, ErrBadAsset},
		{"raw escape byte in a string", "{\"asset\":\"\x1b[2J\",\"price\":1.1,\"timestamp\":1729760400}", ErrNotJSON},
		{"C1 CSI in the asset", `{"asset":"a\u009b31m","price":1.1,"timestamp":1729760400}`, ErrBadAsset},
		{"DEL in the asset", `{"asset":"a\u007f","price":1.1,"timestamp":1729760400}`, ErrBadAsset},
		{"1 MB string", `{"asset":"A","price":1.1,"timestamp":1729760400,"x":"` + strings.Repeat("x", 1<<20) + `"}`, ErrTooLarge},
	}
	var d Decoder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := d.DecodeString(c.payload, "", nowUs)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode(%.80s) = %v, want %v", c.payload, err, c.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Error() == "" {
				t.Fatalf("error %v is not a *DecodeError with a message", err)
			}
		})
	}
}

// Every price and timestamp in the real recording must decode to exactly what strconv
// gives, through the fast path or the fallback.
func TestDecodeMatchesStrconvOnRealTicks(t *testing.T) {
	rows := readRawRows(t, "../testdata/EURUSD_otc_ticks.csv")
	var d Decoder
	for _, r := range rows {
		payload := `{"asset":"EURUSD_otc","price":` + r[1] + `,"timestamp":` + r[0] + `}`
		tick, err := d.DecodeString(payload, "", nowUs)
		if err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		wantPrice, _ := strconv.ParseFloat(r[1], 64)
		wantTs, _ := strconv.ParseFloat(r[0], 64)
		if tick.Price != wantPrice || tick.UnixMicro != int64(math.Round(wantTs*1e6)) {
			t.Fatalf("%s decoded to %+v", payload, tick)
		}
	}
}

func TestNumberFastPathAgreesWithStrconv(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "1.15838", "0.000001", "123456789012345678901234567890",
		"1e22", "1e23", "1.7976931348623157e308", "4.9e-324", "2.2250738585072014e-308", "0.1", "-12.5e-3",
		"9007199254740993", "1752960407.177", "3.0000000000000000000000001"} {
		n, end, ok := scanNumber([]byte(s), 0)
		if !ok || end != len(s) {
			t.Fatalf("scanNumber(%q) failed", s)
		}
		want, _ := strconv.ParseFloat(s, 64)
		if got := n.float(); got != want {
			t.Errorf("float(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	var d Decoder
	payload := []byte(`{"asset":"EURUSD_otc","price":1.15838,"timestamp":1752960407.177}`)
	if _, err := d.Decode(payload, "", nowUs); err != nil { // interns the asset
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := d.Decode(payload, "", nowUs); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %.1f times per payload, want 0", allocs)
	}
}

func readRawRows(t testing.TB, path string) [][2]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][2]string
	for _, line := range strings.Split(string(data), "\n")[1:] {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		ts, price, _ := strings.Cut(line, ",")
		rows = append(rows, [2]string{ts, price})
	}
	return rows
}

func FuzzDecode(f *testing.F) {
	for _, r := range readRawRows(f, "../testdata/EURUSD_otc_ticks.csv")[:50] {
		f.Add(`{"asset":"EURUSD_otc","price":` + r[1] + `,"timestamp":` + r[0] + `}`)
	}
	for _, s := range []string{
		`{"asset":"EURUSD_otc","timestamp":1729760400,"open":1.0823,"high":1.0825,"low":1.0821,"close":1.0824,"volume":0,"date":"2024-10-24T09:00:00+00:00"}`,
		`{"asset":"EURUSD_otc","price":1.08241,"timestamp":1729760400}`,
		`{"quote":"1.2","timestamp":"2024-10-24T09:00:00Z"}`,
		`{"value":1.2,"timestamp":1752960407177}`,
		`{"price":NaN,"timestamp":1}`, `{"price":-Infinity}`, `{"asset":"\ud83d\ude00","price":1,"timestamp":1729760400}`,
		`{"a":[[[{"b":"\""}]]]}`, `{"price":1e400}`, `{`, `}`, `[]`, `null`, `"x"`, ``, `{"price":01}`,
		`{"asset":"A","price":1.1,"timestamp":99999999999999999999}`, `{"\u00":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		var d Decoder
		tick, err := d.DecodeString(payload, "fallback", nowUs)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		if !(tick.Price > 0) || tick.Price > MaxPrice || math.IsInf(tick.Price, 0) {
			t.Fatalf("accepted unusable price %v from %q", tick.Price, payload)
		}
		if tick.UnixMicro < minUnixMicro || tick.UnixMicro > nowUs+DefaultMaxFuture.Milliseconds() {
			t.Fatalf("accepted unusable timestamp %d from %q", tick.UnixMicro, payload)
		}
		if tick.Asset == "" {
			t.Fatalf("accepted a tick without asset from %q", payload)
		}
		// Whatever we accept must be a JSON object to encoding/json too, unless it uses
		// Python's non-standard NaN/Infinity literals.
		var m map[string]any
		if err := json.Unmarshal([]byte(payload), &m); err != nil && !strings.Contains(payload, "NaN") &&
			!strings.Contains(payload, "Infinity") {
			t.Fatalf("accepted %q, which encoding/json rejects: %v", payload, err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	var d Decoder
	payload := []byte(`{"asset":"EURUSD_otc","price":1.15838,"timestamp":1752960407.177}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := d.Decode(payload, "", nowUs); err != nil {
			b.Fatal(err)
		}
	}
}

// An asset taken from the key or channel name is checked like one in the payload: the
// name of a channel is anyone's choice.
func TestFallbackAssetWithControlCharactersIsRejected(t *testing.T) {
	var d Decoder
	_, err := d.DecodeString(`{"price":1.1,"timestamp":1729760400}`, "\x1b[2J\x1b]0;pwned\x07", 0)
	if !errors.Is(err, ErrBadAsset) || strings.ContainsRune(err.Error(), 0x1b) {
		t.Fatalf("err = %q", err)
	}
}
