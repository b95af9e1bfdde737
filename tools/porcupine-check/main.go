// Command porcupine-check checks register histories for linearizability with
// Porcupine (github.com/anishathalye/porcupine), as an independent check of
// incident-harness's own search (harness/src/checker/linearizable.rs).
//
// Input (stdin): one history per line, JSON, as the Rust side writes it:
//
//	{"id": 3, "ops": [{"key": "k0", "f": "write", "value": 2, "call": 10, "ret": 25}, ...]}
//
// f is "read" (value: what it returned, null for the empty register),
// "write" (value) or "cas" (expect: the value required, null for empty;
// value: the value written). call and ret are nanoseconds; ret is null when
// the outcome is unknown (it may take effect any time after call, or never).
// Failed operations are left out by the writer: they never took effect.
//
// Output (stdout): one line per history, {"id": 3, "result": "ok"} with
// result "ok", "illegal" or "unknown" (timeout), then with -time a last line
// {"check_ns": N, "ops": M}: the time spent checking, parsing excluded.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

type op struct {
	Key    string `json:"key"`
	F      string `json:"f"`
	Value  *int64 `json:"value"`
	Expect *int64 `json:"expect"`
	Call   int64  `json:"call"`
	Ret    *int64 `json:"ret"`
}

type history struct {
	ID  int64 `json:"id"`
	Ops []op  `json:"ops"`
}

// The register: set is false while it was never written.
type state struct {
	set bool
	v   int64
}

type input struct {
	key    string
	f      byte // 'r', 'w', 'c'
	value  state
	expect state
}

func opt(p *int64) state {
	if p == nil {
		return state{}
	}
	return state{true, *p}
}

var model = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range h {
			k := o.Input.(input).key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], o)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() interface{} { return state{} },
	Step: func(s, in, _ interface{}) (bool, interface{}) {
		st := s.(state)
		i := in.(input)
		switch i.f {
		case 'r':
			return st == i.value, st
		case 'w':
			return true, i.value
		case 'c':
			return st == i.expect, i.value
		default: // 'u': a CAS of unknown outcome
			if st == i.expect {
				return true, i.value
			}
			// One that goes where it cannot apply did nothing: the same
			// as going last (its return is +inf), or never.
			return true, st
		}
	},
	Equal: func(a, b interface{}) bool { return a.(state) == b.(state) },
}

func convert(h history) ([]porcupine.Operation, error) {
	ops := make([]porcupine.Operation, 0, len(h.Ops))
	for n, o := range h.Ops {
		in := input{key: o.Key, value: opt(o.Value), expect: opt(o.Expect)}
		switch o.F {
		case "read":
			in.f = 'r'
		case "write", "cas":
			if o.Value == nil {
				return nil, fmt.Errorf("history %d op %d: %s without a value", h.ID, n, o.F)
			}
			in.f = o.F[0]
		default:
			return nil, fmt.Errorf("history %d op %d: unknown f %q", h.ID, n, o.F)
		}
		ret := int64(math.MaxInt64)
		if o.Ret != nil {
			ret = *o.Ret
			if ret < o.Call {
				return nil, fmt.Errorf("history %d op %d: returns before its call", h.ID, n)
			}
		} else if in.f == 'r' {
			return nil, fmt.Errorf("history %d op %d: a read of unknown outcome tells nothing: leave it out", h.ID, n)
		}
		// An unknown CAS may also have done nothing: model it as a CAS
		// that only applies when it can (see Step), going last otherwise.
		if o.Ret == nil && in.f == 'c' {
			in.f = 'u'
		}
		ops = append(ops, porcupine.Operation{ClientId: n, Input: in, Call: o.Call, Return: ret})
	}
	return ops, nil
}

func main() {
	timeout := flag.Duration("timeout", 0, "per history (0: none)")
	timing := flag.Bool("time", false, "print the time spent checking")
	flag.Parse()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<30)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var spent time.Duration
	total := 0
	for in.Scan() {
		var h history
		if err := json.Unmarshal(in.Bytes(), &h); err != nil {
			fmt.Fprintln(os.Stderr, "porcupine-check:", err)
			os.Exit(2)
		}
		ops, err := convert(h)
		if err != nil {
			fmt.Fprintln(os.Stderr, "porcupine-check:", err)
			os.Exit(2)
		}
		total += len(ops)
		start := time.Now()
		res := porcupine.CheckOperationsTimeout(model, ops, *timeout)
		spent += time.Since(start)
		r := map[porcupine.CheckResult]string{porcupine.Ok: "ok", porcupine.Illegal: "illegal", porcupine.Unknown: "unknown"}[res]
		fmt.Fprintf(out, "{\"id\": %d, \"result\": %q}\n", h.ID, r)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "porcupine-check:", err)
		os.Exit(2)
	}
	if *timing {
		fmt.Fprintf(out, "{\"check_ns\": %d, \"ops\": %d}\n", spent.Nanoseconds(), total)
	}
}
