package libuse

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/functions"
)

// Functions is a function set as another Go program builds one: a
// function named "upper" that runs a local program (tr) once per call,
// at most two at a time, with the set's metrics on reg. The same program
// would add functions.ContainerRunner for image functions.
func Functions(reg prometheus.Registerer) (*functions.Set, error) {
	cfg := functions.DefaultConfig()
	cfg.Concurrency = 2
	cfg.Functions = []functions.Function{{Name: "upper", Command: "tr", Args: []string{"a-z", "A-Z"}}}
	return functions.New(cfg, functions.Runners{Exec: &functions.ProcessRunner{Env: []string{"PATH=/usr/bin:/bin"}}}, reg, nil)
}
