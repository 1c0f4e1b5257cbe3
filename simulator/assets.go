// Package simulator makes the QuFLX feed: synthetic ticks from a mean-reverting random
// walk with realistic OTC prices, or a replay of a recorded CSV, paced in real time and
// handed to a Sink (the Redis producer in practice).
package simulator

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
)

// Asset describes how an instrument trades in the simulator.
type Asset struct {
	Name     string
	Price    float64 // the level the walk reverts to, and where it starts
	Decimals int     // quote precision: 5 for most FX pairs, 3 for JPY pairs
	// Vol is the relative volatility per square root of a second. The recorded EURUSD
	// feed moves about 2e-5 of its price per sqrt(s).
	Vol float64
}

// TickSize is the smallest price step.
func (a Asset) TickSize() float64 { return math.Pow10(-a.Decimals) }

// Round rounds p to the asset's tick size.
func (a Asset) Round(p float64) float64 {
	scale := math.Pow10(a.Decimals)
	return math.Round(p*scale) / scale
}

// catalogue holds the OTC instruments QuFLX trades, at realistic levels and precisions.
var catalogue = []Asset{
	{"EURUSD_otc", 1.08500, 5, 2.0e-5},
	{"USDJPY_otc", 150.000, 3, 2.5e-5},
	{"GBPUSD_otc", 1.27000, 5, 2.2e-5},
	{"AUDCAD_otc", 0.97760, 5, 2.0e-5},
	{"ZARUSD_otc", 0.10650, 5, 4.0e-5},
	{"EURJPY_otc", 162.500, 3, 2.5e-5},
	{"USDCHF_otc", 0.88000, 5, 2.0e-5},
	{"AUDUSD_otc", 0.66000, 5, 2.2e-5},
	{"NZDUSD_otc", 0.61000, 5, 2.4e-5},
	{"USDCAD_otc", 1.36000, 5, 1.8e-5},
	{"GBPJPY_otc", 190.000, 3, 3.0e-5},
	{"EURGBP_otc", 0.85500, 5, 1.6e-5},
	{"USDTRY_otc", 32.5000, 4, 3.0e-5},
	{"XAUUSD_otc", 2300.00, 2, 5.0e-5},
	{"BTCUSD_otc", 60000.0, 1, 1.2e-4},
	{"ETHUSD_otc", 3000.00, 2, 1.5e-4},
}

// Catalogue returns the known instruments.
func Catalogue() []Asset { return append([]Asset(nil), catalogue...) }

// Lookup returns the catalogue entry for name, or a plausible made-up instrument for an
// unknown name (derived from the name, so the same name always trades the same way).
func Lookup(name string) Asset {
	for _, a := range catalogue {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	level := 0.5 + float64(h.Sum32()%1500)/1000 // 0.5 .. 2.0
	return Asset{Name: name, Price: math.Round(level*1e5) / 1e5, Decimals: 5, Vol: 2.0e-5}
}

// ParseAssets reads --assets: a count ("10": the first ten of the catalogue, then
// SYN011_otc and on) or a comma-separated list of names.
func ParseAssets(spec []string) ([]Asset, error) {
	if len(spec) == 1 {
		if n, err := strconv.Atoi(strings.TrimSpace(spec[0])); err == nil {
			if n < 1 || n > 10000 {
				return nil, fmt.Errorf("asset count %d: want 1 to 10000", n)
			}
			return Pick(n), nil
		}
	}
	var out []Asset
	seen := map[string]bool{}
	for _, name := range spec {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, Lookup(name))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no assets")
	}
	return out, nil
}

// Pick returns n assets: the catalogue first, then synthetic ones.
func Pick(n int) []Asset {
	out := make([]Asset, 0, n)
	for i := range n {
		if i < len(catalogue) {
			out = append(out, catalogue[i])
			continue
		}
		out = append(out, Lookup(fmt.Sprintf("SYN%03d_otc", i+1)))
	}
	return out
}
