// Package dashboard is the live page of a replica at /_mitosis/ on the
// admin port: charts of the tier over the last 15 minutes (replicas
// desired, running and pending; request rate; p50/p95 latency; queue
// depth; shed and forwarded rates), a table of the replicas, and the
// autoscaler's decisions, newest first, with steady ticks folded.
//
// It owns three things:
//
//   - History: a fixed-size ring of per-tick points of the tier (sums over
//     the members this replica knows, itself included), so memory does not
//     grow with time.
//   - Decisions: a bounded log of the autoscaler's decisions in which
//     consecutive steady ticks (and repeats of one change) fold into one
//     entry, so a scale-up's reason stays on the page for long.
//   - Handler: the page (HTML, CSS and JavaScript embedded in the binary;
//     no CDN, no build step), the JSON it polls, and the sign-in that the
//     cluster token requires (a cookie derived from the token).
//
// It reads the pool's members and the autoscale loop's decisions; it must
// not change them, nor decide or route anything. History and Decisions are
// safe for concurrent use; the Handler too.
package dashboard
