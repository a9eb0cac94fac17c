package spawner

import (
	"context"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name    string
		self    map[string]string // labels of the own container; nil = no own container
		swarm   bool
		service string
		down    bool
		want    string
		why     string
	}{
		{"swarm task", map[string]string{labelSwarmServiceName: "app_web"}, true, "", false, KindSwarm, "task of swarm service app_web"},
		{"service set in swarm", nil, true, "app_web", false, KindSwarm, "MITOSIS_SERVICE=app_web"},
		{"plain container", map[string]string{"x": "y"}, false, "", false, KindDocker, "plain docker engine"},
		{"service set, no swarm", map[string]string{}, false, "app_web", false, KindDocker, "plain docker engine"},
		{"not in a container", nil, false, "", false, KindProcess, "not running in a container"},
		{"daemon down", nil, false, "", true, KindProcess, "not reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine(t)
			if !tt.swarm {
				f.Info.Swarm.LocalNodeState = "inactive"
			}
			if tt.self != nil {
				f.addContainer(&fakeContainer{ID: selfID + strings.Repeat("0", 52), Name: "me", State: "running", Config: configWithLabels(tt.self)})
			}
			e := f.engine(t, selfID)
			if tt.down {
				cfg := DefaultEngineConfig()
				cfg.Host, cfg.SelfID = deadAddr(t), selfID
				var err error
				if e, err = NewEngine(cfg); err != nil {
					t.Fatal(err)
				}
				defer e.Close()
			}
			kind, why := Detect(context.Background(), e, tt.service)
			if kind != tt.want || !strings.Contains(why, tt.why) {
				t.Fatalf("Detect = %s (%s), want %s (…%s…)", kind, why, tt.want, tt.why)
			}
		})
	}
	if kind, _ := Detect(context.Background(), nil, ""); kind != KindProcess {
		t.Fatalf("Detect(nil) = %s", kind)
	}
}
