package closeemu

import (
	"flag"
	"fmt"
	"strings"
)

// RegisterFlags defines flags on fs that set f's fields, with f's current
// values as defaults (so zero means "no fault"):
//
//	--error-rate               ErrorRate
//	--error-status             ErrorStatus
//	--latency                  Latency
//	--drop-rate                DropConnRate
//	--seed                     Seed
//	--latency-after-create     LatencyAfterCreate
//	--latency-after-create-rate LatencyAfterCreateRate
//	--drop-after-create-rate   DropAfterCreateRate
//	--error-after-create-rate  ErrorAfterCreateRate
//	--error-endpoints          ErrorEndpoints (comma-separated Endpoint names)
//
// Script, StatusForEmail and RateReset have no flag. Call f.Validate after
// parsing. A pflag (cobra) command can add fs with AddGoFlagSet.
func (f *Faults) RegisterFlags(fs *flag.FlagSet) {
	fs.Float64Var(&f.ErrorRate, "error-rate", f.ErrorRate,
		"fraction of requests to --error-endpoints (default POST /lead/) answered --error-status, creating or changing nothing (0..1)")
	fs.IntVar(&f.ErrorStatus, "error-status", f.ErrorStatus,
		"status injected by --error-rate and --error-after-create-rate (0 = 503)")
	fs.DurationVar(&f.Latency, "latency", f.Latency,
		"delay before handling any request; a client giving up during it creates nothing")
	fs.Float64Var(&f.DropConnRate, "drop-rate", f.DropConnRate,
		"fraction of requests whose connection is closed before handling, without a response (0..1)")
	fs.Int64Var(&f.Seed, "seed", f.Seed,
		"seed of the fault RNGs (one independent stream per rate)")
	fs.DurationVar(&f.LatencyAfterCreate, "latency-after-create", f.LatencyAfterCreate,
		"delay the answer after a lead is stored; a client giving up during it leaves the lead created")
	fs.Float64Var(&f.LatencyAfterCreateRate, "latency-after-create-rate", f.LatencyAfterCreateRate,
		"fraction of created leads delayed by --latency-after-create (0 = every one)")
	fs.Float64Var(&f.DropAfterCreateRate, "drop-after-create-rate", f.DropAfterCreateRate,
		"fraction of created leads whose connection is then closed without a response (0..1)")
	fs.Float64Var(&f.ErrorAfterCreateRate, "error-after-create-rate", f.ErrorAfterCreateRate,
		"fraction of created leads then answered --error-status (502 if below 400) instead of 200 (0..1)")
	fs.Func("error-endpoints", fmt.Sprintf(
		"endpoints --error-rate applies to, comma-separated, of %v (default create_lead)", Endpoints),
		func(v string) error {
			f.ErrorEndpoints = nil
			for name := range strings.SplitSeq(v, ",") {
				e := Endpoint(strings.TrimSpace(name))
				if e == "" {
					continue
				}
				if !knownEndpoint(e) {
					return fmt.Errorf("unknown endpoint %q (want one of %v)", e, Endpoints)
				}
				f.ErrorEndpoints = append(f.ErrorEndpoints, e)
			}
			return nil
		})
}
