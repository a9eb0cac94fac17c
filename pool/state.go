package pool

// Latency is a set of latency figures in milliseconds, to the microsecond.
// P50, P95 and P99 are bucketed: each is the upper bound of the log-scale
// histogram bucket (four per power of two) its quantile falls in, so it
// reads up to a quarter above the true value (requests of 101 ms show a
// p95 of 114.7 ms). EWMA is not bucketed.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	EWMA float64 `json:"ewma"`
}

// State is the wire format of GET /_mitosis/state: the load of one replica
// as it reports itself to its siblings (and to people). Fields are only ever
// added, never renamed: replicas of different versions read each other.
type State struct {
	ID string `json:"id"`
	// PublicPort is the port of the replica's public listener; together with
	// the host of the admin address it polled, a sibling knows where to
	// forward.
	PublicPort int `json:"public_port"`
	Inflight   int `json:"inflight"`
	Queued     int `json:"queued"`
	// Capacity is MAX_INFLIGHT, QueueMax is QUEUE_MAX.
	Capacity int     `json:"capacity"`
	QueueMax int     `json:"queue_max"`
	RPS      float64 `json:"rps"`
	// LatencyMS is app time; TotalMS includes the time spent queued. Table
	// rows (RowOf) and so the autoscale sample read LatencyMS only.
	LatencyMS Latency `json:"latency_ms"`
	TotalMS   Latency `json:"total_latency_ms"`
	Shed      uint64  `json:"shed"`
	// Forwarded is the cumulative count of requests this replica handed
	// to a sibling (0 from replicas that predate the field).
	Forwarded uint64 `json:"forwarded"`
	Draining  bool   `json:"draining"`
	Ready     bool   `json:"ready"`
	CanScale  bool   `json:"can_scale"`
	// Leading is whether the replica leads the tier's scaling as it sees
	// it now (autoscale.Leader: a smaller candidate waits for the sitting
	// leader to step back).
	Leading bool `json:"leading"`
}
