package spawner

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// The guard's capability API (`mitosis guard`, package guard), spoken by
// GuardClient. It is not the Engine API: four paths, JSON bodies decoded
// strictly (an unknown field is refused), every refusal a GuardError body
// naming the rule it broke.
const (
	// GuardPathWhoami answers who the guard takes the caller for
	// (GuardWhoami). GET.
	GuardPathWhoami = "/guard/v1/whoami"
	// GuardPathStatus answers the caller's own service (GuardStatus). GET;
	// ?service=NAME, if given, must name the caller's service.
	GuardPathStatus = "/guard/v1/status"
	// GuardPathScale sets the caller's own replica count
	// (GuardScaleRequest). POST.
	GuardPathScale = "/guard/v1/scale"
	// GuardPathRun runs an allow-listed function container
	// (GuardRunRequest → GuardRunResult). POST.
	GuardPathRun = "/guard/v1/run"
)

// GuardTokenHeader carries the shared secret: "Authorization: Bearer
// <token>".
const GuardTokenHeader = "Authorization"

// Rules a guard refusal names (GuardError.Rule).
const (
	RuleBadToken        = "bad_token"         // 401: no or wrong shared secret
	RuleUnknownCaller   = "unknown_caller"    // 403: the source address is no task of a labelled service
	RuleOtherService    = "other_service"     // 403: the request names a service that is not the caller's
	RuleAboveMax        = "above_max"         // 403: replicas above the service's MITOSIS_MAX_REPLICAS
	RuleBelowMin        = "below_min"         // 403: replicas below the service's MITOSIS_MIN_REPLICAS
	RuleBadBounds       = "bad_bounds"        // 403: the service's own bounds are unreadable
	RuleNotReplicated   = "not_replicated"    // 403: a global or job service has no replica count
	RuleNotAllowedImage = "not_allowed_image" // 403: the image is not on the guard's allow-list
	RuleTimeoutTooLong  = "timeout_too_long"  // 403: a run timeout above the guard's maximum
	RuleUnknownField    = "unknown_field"     // 400: a body field the API does not have
	RuleBadRequest      = "bad_request"       // 400: a body that is not the API's JSON
	RuleTooLarge        = "too_large"         // 413: a body above the guard's limit
	RuleRateLimited     = "rate_limited"      // 429: over the per-service rate or concurrency
	RuleConflict        = "conflict"          // 409: the version is stale (nothing changed)
	RuleNotFound        = "not_found"         // 404: no such capability (Engine API paths included)
	RuleMethod          = "method_not_allowed"
	RuleEngine          = "engine_error"     // 502: the Docker daemon failed
	RuleRunFailed       = "run_failed"       // 502: the container could not run to its end
	RuleRunTimeout      = "run_timeout"      // 504: the run hit its timeout and was killed
	RuleOutputTooLarge  = "output_too_large" // 502: the run wrote more stdout than allowed and was killed
)

// GuardError is the body of every refusal, and the error GuardClient
// returns for one.
type GuardError struct {
	// Status is the HTTP status (not part of the body).
	Status  int    `json:"-"`
	Rule    string `json:"rule"`
	Message string `json:"error"`
}

func (e *GuardError) Error() string {
	return fmt.Sprintf("guard refused (%d %s, rule %s): %s", e.Status, http.StatusText(e.Status), e.Rule, e.Message)
}

// GuardWhoami is the answer of GuardPathWhoami.
type GuardWhoami struct {
	Service string `json:"service"`
	Task    string `json:"task"`
}

// GuardTask is one task of the caller's service.
type GuardTask struct {
	Name  string `json:"name"`
	ID    string `json:"id"`
	Slot  int    `json:"slot"`
	State string `json:"state"`
	// Addrs maps network names to the task's IP on each.
	Addrs map[string]string `json:"addrs"`
}

// GuardStatus is the answer of GuardPathStatus.
type GuardStatus struct {
	Service string `json:"service"`
	Desired int    `json:"desired"`
	Running int    `json:"running"`
	// Version is the CAS token for GuardScaleRequest.
	Version uint64 `json:"version"`
	// Min and Max are the bounds the guard enforces, read from the
	// service's own MITOSIS_MIN_REPLICAS and MITOSIS_MAX_REPLICAS.
	Min   int         `json:"min"`
	Max   int         `json:"max"`
	Tasks []GuardTask `json:"tasks"`
	// Pending, PendingReason, PendingMessage and Placement are Status's:
	// the tasks Swarm cannot place, why, and the nodes that take new
	// tasks.
	Pending        int    `json:"pending,omitempty"`
	PendingReason  string `json:"pending_reason,omitempty"`
	PendingMessage string `json:"pending_message,omitempty"`
	Placement      string `json:"placement,omitempty"`
}

// GuardScaleRequest is the body of GuardPathScale.
type GuardScaleRequest struct {
	// Service, if set, must be the caller's own service (else
	// RuleOtherService); empty means the caller's.
	Service  string `json:"service,omitempty"`
	Replicas int    `json:"replicas"`
	// Version is GuardStatus.Version as read.
	Version uint64 `json:"version"`
}

// GuardScaleResult is the answer to a scale that was applied.
type GuardScaleResult struct {
	Service  string `json:"service"`
	Replicas int    `json:"replicas"`
}

// GuardRunRequest is the body of GuardPathRun: nothing else can be sent,
// so no container option (privileges, mounts, network, user, resources)
// can be asked for; the guard sets them.
type GuardRunRequest struct {
	Image string   `json:"image"`
	Args  []string `json:"args,omitempty"`
	Env   []string `json:"env,omitempty"`
	// Stdin is written to the container's standard input (base64 in JSON).
	Stdin []byte `json:"stdin,omitempty"`
	// Timeout is a Go duration ("30s"); empty means the guard's maximum.
	Timeout string `json:"timeout,omitempty"`
}

// GuardRunResult is the answer to a run that reached the container's
// exit: TaskResult on the wire (byte slices are base64 in JSON).
type GuardRunResult struct {
	ExitCode        int    `json:"exit_code"`
	Stdout          []byte `json:"stdout"`
	Stderr          []byte `json:"stderr"`
	StderrTruncated bool   `json:"stderr_truncated"`
}

// DefaultGuardTokenFile is where a Docker secret named mitosis_guard_token
// is mounted; the guard and the replicas read the same default.
const DefaultGuardTokenFile = "/run/secrets/mitosis_guard_token"

// DefaultGuardPort is the guard's default port, also what replicas dial.
const DefaultGuardPort = 7070

// MinGuardTokenBytes is the shortest accepted shared secret.
const MinGuardTokenBytes = 16

// ReadGuardToken reads the shared secret from path: surrounding blanks and
// the final newline are dropped; at least MinGuardTokenBytes must remain.
// The error names the variable env, the path and how to create the
// secret.
func ReadGuardToken(env, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s=%s: %w (create the secret: openssl rand -hex 32 | docker secret create mitosis_guard_token -)", env, path, err)
	}
	tok := []byte(strings.TrimSpace(string(b)))
	if len(tok) < MinGuardTokenBytes {
		return nil, fmt.Errorf("%s=%s: the secret has %d bytes, must have at least %d", env, path, len(tok), MinGuardTokenBytes)
	}
	return tok, nil
}

// CheckGuardAddr reports whether addr is a guard address: host:port with
// a host and a port in [1; 65535].
func CheckGuardAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("guard address %q: must be host:port", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("guard address %q: port must be in [1; 65535]", addr)
	}
	return nil
}
