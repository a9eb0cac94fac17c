package spawner

import (
	"context"
	"errors"
	"fmt"
)

// Driver kinds, the values of MITOSIS_DRIVER besides "auto" and "off".
const (
	KindSwarm   = "swarm"
	KindDocker  = "docker"
	KindProcess = "process"
)

// detectAPI is what Detect needs of the engine (*Engine).
type detectAPI interface {
	ping(ctx context.Context) error
	info(ctx context.Context) (engineInfo, error)
	inspectContainer(ctx context.Context, id string) (containerInfo, error)
}

// Detect picks the driver for MITOSIS_DRIVER=auto and says why:
//
//   - "swarm" when the own container is a Swarm task (it carries the
//     com.docker.swarm.service.name label), or when service (MITOSIS_SERVICE)
//     is set and the daemon is in an active Swarm;
//   - "docker" inside a plain container whose daemon is reachable;
//   - "process" otherwise (no engine, daemon unreachable, or not in a
//     container).
//
// It never fails: a daemon that is down means "process", which serves
// anyway. A nil e means no Docker at all.
func Detect(ctx context.Context, e *Engine, service string) (kind, why string) {
	if e == nil {
		return KindProcess, "no docker engine configured"
	}
	return detect(ctx, e, e.selfID, service)
}

func detect(ctx context.Context, api detectAPI, selfID, service string) (kind, why string) {
	if err := api.ping(ctx); err != nil {
		return KindProcess, fmt.Sprintf("docker daemon not reachable: %v", err)
	}
	var self containerInfo
	var selfErr error = errNotFound
	if selfID != "" {
		self, selfErr = api.inspectContainer(ctx, selfID)
	}
	if selfErr == nil {
		if name := self.Labels[labelSwarmServiceName]; name != "" {
			return KindSwarm, fmt.Sprintf("own container %.12s is a task of swarm service %s", self.ID, name)
		}
	}
	if service != "" {
		in, err := api.info(ctx)
		if err == nil && in.SwarmActive {
			return KindSwarm, fmt.Sprintf("MITOSIS_SERVICE=%s and the daemon is in an active swarm", service)
		}
	}
	switch {
	case selfErr == nil:
		return KindDocker, fmt.Sprintf("own container %.12s runs on a plain docker engine", self.ID)
	case errors.Is(selfErr, errNotFound):
		return KindProcess, fmt.Sprintf("no container %q on the daemon: not running in a container", selfID)
	default:
		return KindProcess, fmt.Sprintf("cannot inspect own container %q: %v", selfID, selfErr)
	}
}
