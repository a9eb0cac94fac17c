package spawner

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/pkg/stdcopy"
)

// realServiceSpec is the Spec of a service as Docker 20.10 (API 1.41)
// returned it from GET /services/{id}, created with the flags of stack.yml
// (bind-mounted socket, start-first, dnsrr, host port, healthcheck). Fields
// like "Init":false, "DNSConfig":{} and empty Resources must survive a
// Scale, or Swarm sees a changed spec and rolls every task.
const realServiceSpec = `{"Name":"app_mitosis","Labels":{"com.docker.stack.namespace":"app"},"TaskTemplate":{"ContainerSpec":{"Image":"mitosis:1.0@sha256:2d2b1a8bb5c7b4f7ab0cb7f9f1e1bb3c1f5d1c5e0a3b6b8f0f5e3d4c2b1a0f9e","Labels":{"a":"b"},"Env":["MITOSIS_SERVICE={{.Service.Name}}"],"Init":false,"Mounts":[{"Type":"bind","Source":"/var/run/docker.sock","Target":"/var/run/docker.sock"}],"StopGracePeriod":40000000000,"Healthcheck":{"Test":["CMD","/mitosis","healthcheck"],"Interval":5000000000},"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},"Placement":{"Constraints":["node.role==manager"]},"Networks":[{"Target":"m9bnllupqcg7a3oihdkyxdprq"}],"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":2}},"UpdateConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"start-first"},"EndpointSpec":{"Mode":"dnsrr","Ports":[{"Protocol":"tcp","TargetPort":8080,"PublishedPort":18080,"PublishMode":"host"}]}}`

// fakeService is a service held by the fake as raw JSON, so that what a
// client sends back can be compared byte-for-byte in meaning.
type fakeService struct {
	ID      string
	Version uint64
	Spec    json.RawMessage
	Running uint64
}

// fakeContainer is a container held by the fake.
type fakeContainer struct {
	ID      string
	Name    string
	Config  container.Config
	Host    container.HostConfig
	Nets    map[string]*network.EndpointSettings
	State   string
	Created time.Time
	Exit    int
	Logs    []fakeLog
	// Echo makes an attached container copy its stdin to stdout (after
	// Logs); Stdin records what it read.
	Echo  bool
	Stdin []byte

	started  chan struct{} // closed by start
	exited   chan struct{} // closed when the "process" ends (attached containers)
	conn     net.Conn      // the attach stream, if any
	stopOnce sync.Once
}

// exit ends the container's "process": wait answers, the attach stream
// closes. Call with f.mu held.
func (c *fakeContainer) exit() {
	c.State = "exited"
	c.stopOnce.Do(func() {
		if c.exited != nil {
			close(c.exited)
		}
		if c.conn != nil {
			c.conn.Close()
		}
	})
}

type fakeLog struct {
	Stderr bool
	Text   string
}

// fakeEngine is an httptest fake of the Docker Engine API: just the
// endpoints the drivers use, with public fields a test sets up and reads.
type fakeEngine struct {
	mu         sync.Mutex
	APIVersion string // default "1.41"
	// PingFailures makes the first n pings answer 500 without an
	// API-Version header (a daemon that is not ready).
	PingFailures int
	Info         system.Info
	Services     map[string]*fakeService
	Containers   map[string]*fakeContainer
	// Tasks answer GET /tasks (filtered by service and desired-state).
	Tasks []swarm.Task
	// Nodes answer GET /nodes; NodesError makes it answer 503.
	Nodes      []swarm.Node
	NodesError string
	// UpdateError, if set, is the message of a 500 answer to every
	// service update (e.g. "update out of sequence").
	UpdateError string
	// CreateError, StartError make create/start answer 500; InspectError
	// makes container inspection answer 500 (a daemon in trouble).
	CreateError, StartError, InspectError string
	// Stops records the ?t= (seconds) of each stop, by container id.
	Stops map[string]string
	// WaitDelay delays the answer of /wait (a task that runs long);
	// StartDelay that of /start (a busy daemon).
	WaitDelay, StartDelay time.Duration
	// RemoveFailures makes the first n container removals answer 500.
	RemoveFailures int

	// Calls records "METHOD /path" (version prefix stripped) in order.
	Calls []string
	// Paths records the raw request paths (with the version prefix).
	Paths []string
	// Updates records the bodies and ?version= of service updates.
	Updates []fakeUpdate

	// created lists the containers created, in order; onCreate (if set)
	// is applied to each (set it through a helper holding mu).
	created  []*fakeContainer
	onCreate func(*fakeContainer)

	next int
	srv  *httptest.Server
}

type fakeUpdate struct {
	Version string
	Body    json.RawMessage
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

func newFakeEngine(t *testing.T) *fakeEngine {
	t.Helper()
	f := &fakeEngine{
		APIVersion: "1.41",
		Services:   map[string]*fakeService{},
		Containers: map[string]*fakeContainer{},
	}
	f.Info.Swarm.LocalNodeState = swarm.LocalNodeStateActive
	f.Info.Swarm.ControlAvailable = true
	f.Info.Swarm.NodeID = "node1"
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// engine returns an Engine talking to the fake, with own container selfID.
func (f *fakeEngine) engine(t *testing.T, selfID string) *Engine {
	t.Helper()
	cfg := DefaultEngineConfig()
	cfg.Host = "tcp://" + f.srv.Listener.Addr().String()
	cfg.SelfID = selfID
	cfg.CallTimeout = 2 * time.Second
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func (f *fakeEngine) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Calls...)
}

func (f *fakeEngine) addContainer(c *fakeContainer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Created.IsZero() {
		c.Created = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	f.Containers[c.ID] = c
}

func (f *fakeEngine) container(id string) *fakeContainer {
	if c, ok := f.Containers[id]; ok {
		return c
	}
	for _, c := range f.Containers {
		if c.Name == id || (len(id) >= 12 && strings.HasPrefix(c.ID, id)) {
			return c
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg})
}

func (f *fakeEngine) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := versionPrefix.ReplaceAllString(r.URL.Path, "")
	f.Calls = append(f.Calls, r.Method+" "+p)
	f.Paths = append(f.Paths, r.URL.Path)
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if p == "/_ping" {
		if f.PingFailures > 0 {
			f.PingFailures--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("API-Version", f.APIVersion)
		w.Header().Set("Swarm", "active/manager")
		_, _ = io.WriteString(w, "OK")
		return
	}
	if v := strings.TrimPrefix(versionPrefix.FindString(r.URL.Path), "/v"); v != "" && versions.GreaterThan(v, f.APIVersion) {
		apiError(w, 400, "client version "+v+" is too new. Maximum supported API version is "+f.APIVersion)
		return
	}
	switch {
	case r.Method == http.MethodGet && p == "/info":
		writeJSON(w, 200, f.Info)
	case r.Method == http.MethodGet && p == "/tasks":
		args, _ := filters.FromJSON(r.URL.Query().Get("filters"))
		list := []swarm.Task{}
		for _, t := range f.Tasks {
			if (len(args.Get("service")) == 0 || args.ExactMatch("service", t.ServiceID)) &&
				(len(args.Get("desired-state")) == 0 || args.ExactMatch("desired-state", string(t.DesiredState))) {
				list = append(list, t)
			}
		}
		writeJSON(w, 200, list)
	case parts[0] == "services":
		f.serveServices(w, r, parts)
	case r.Method == http.MethodGet && p == "/nodes":
		if f.NodesError != "" {
			apiError(w, 503, f.NodesError)
			return
		}
		writeJSON(w, 200, append([]swarm.Node{}, f.Nodes...))
	case parts[0] == "containers":
		f.serveContainers(w, r, parts)
	case r.Method == http.MethodPost && parts[0] == "networks" && len(parts) == 3 && parts[2] == "connect":
		var req network.ConnectOptions
		_ = json.NewDecoder(r.Body).Decode(&req)
		c := f.container(req.Container)
		if c == nil {
			apiError(w, 404, "No such container: "+req.Container)
			return
		}
		c.Nets[parts[1]] = req.EndpointConfig
		w.WriteHeader(200)
	default:
		apiError(w, 404, "fake: no route "+r.Method+" "+p)
	}
}

func (f *fakeEngine) serveServices(w http.ResponseWriter, r *http.Request, parts []string) {
	find := func(ref string) *fakeService {
		for _, s := range f.Services {
			var spec swarm.ServiceSpec
			_ = json.Unmarshal(s.Spec, &spec)
			if s.ID == ref || spec.Name == ref {
				return s
			}
		}
		return nil
	}
	toAPI := func(s *fakeService, status bool) map[string]any {
		out := map[string]any{"ID": s.ID, "Version": map[string]uint64{"Index": s.Version}, "Spec": s.Spec}
		if status {
			var spec swarm.ServiceSpec
			_ = json.Unmarshal(s.Spec, &spec)
			out["ServiceStatus"] = map[string]uint64{"RunningTasks": s.Running, "DesiredTasks": *spec.Mode.Replicated.Replicas}
		}
		return out
	}
	switch {
	case r.Method == http.MethodGet && len(parts) == 1:
		args, _ := filters.FromJSON(r.URL.Query().Get("filters"))
		names := args.Get("name")
		list := []map[string]any{}
		for _, s := range f.Services {
			var spec swarm.ServiceSpec
			_ = json.Unmarshal(s.Spec, &spec)
			match := len(names) == 0
			for _, n := range names { // the real API matches name prefixes
				match = match || strings.HasPrefix(spec.Name, n)
			}
			for _, l := range args.Get("label") {
				k, v, hasV := strings.Cut(l, "=")
				got, ok := spec.Labels[k]
				match = match && ok && (!hasV || got == v)
			}
			if match {
				list = append(list, toAPI(s, r.URL.Query().Get("status") == "true"))
			}
		}
		writeJSON(w, 200, list)
	case r.Method == http.MethodGet && len(parts) == 2:
		s := find(parts[1])
		if s == nil {
			apiError(w, 404, "service "+parts[1]+" not found")
			return
		}
		writeJSON(w, 200, toAPI(s, false))
	case r.Method == http.MethodPost && len(parts) == 3 && parts[2] == "update":
		s := find(parts[1])
		if s == nil {
			apiError(w, 404, "service "+parts[1]+" not found")
			return
		}
		body, _ := io.ReadAll(r.Body)
		v := r.URL.Query().Get("version")
		f.Updates = append(f.Updates, fakeUpdate{Version: v, Body: body})
		if f.UpdateError != "" {
			apiError(w, 500, f.UpdateError)
			return
		}
		if v != fmt.Sprint(s.Version) {
			apiError(w, 500, "rpc error: code = Unknown desc = update out of sequence")
			return
		}
		s.Spec, s.Version = body, s.Version+1
		writeJSON(w, 200, swarm.ServiceUpdateResponse{})
	default:
		apiError(w, 404, "fake: no route")
	}
}

func (f *fakeEngine) serveContainers(w http.ResponseWriter, r *http.Request, parts []string) {
	if r.Method == http.MethodGet && len(parts) == 2 && parts[1] == "json" {
		args, _ := filters.FromJSON(r.URL.Query().Get("filters"))
		list := []container.Summary{}
		for _, c := range f.Containers {
			ok := true
			for _, l := range args.Get("label") {
				k, v, _ := strings.Cut(l, "=")
				ok = ok && c.Config.Labels[k] == v
			}
			if ok {
				list = append(list, container.Summary{ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Config.Image,
					Labels: c.Config.Labels, State: container.ContainerState(c.State), Created: c.Created.Unix(),
					NetworkSettings: &container.NetworkSettingsSummary{Networks: c.Nets}})
			}
		}
		writeJSON(w, 200, list)
		return
	}
	if r.Method == http.MethodPost && len(parts) == 2 && parts[1] == "create" {
		if f.CreateError != "" {
			apiError(w, 500, f.CreateError)
			return
		}
		var req container.CreateRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		f.next++
		id := fmt.Sprintf("%064x", 0xc10e0000+f.next)
		c := &fakeContainer{ID: id, Name: fmt.Sprintf("fake_%d", f.next), State: "created",
			Created: time.Date(2026, 1, 1, 0, 0, f.next, 0, time.UTC), Nets: map[string]*network.EndpointSettings{},
			started: make(chan struct{}), exited: make(chan struct{})}
		if req.Config != nil {
			c.Config = *req.Config
		}
		if req.HostConfig != nil {
			c.Host = *req.HostConfig
		}
		if req.NetworkingConfig != nil {
			for k, v := range req.NetworkingConfig.EndpointsConfig {
				c.Nets[k] = v
			}
		}
		if f.onCreate != nil {
			f.onCreate(c)
		}
		f.created = append(f.created, c)
		f.Containers[id] = c
		writeJSON(w, 201, container.CreateResponse{ID: id})
		return
	}
	if len(parts) < 2 {
		apiError(w, 404, "fake: no route")
		return
	}
	c := f.container(parts[1])
	if c == nil {
		apiError(w, 404, "No such container: "+parts[1])
		return
	}
	op := ""
	if len(parts) == 3 {
		op = parts[2]
	}
	switch {
	case r.Method == http.MethodGet && op == "json" && f.InspectError != "":
		apiError(w, 500, f.InspectError)
	case r.Method == http.MethodGet && op == "json":
		base := &container.ContainerJSONBase{ID: c.ID, Name: "/" + c.Name, Created: c.Created.Format(time.RFC3339Nano),
			State: &container.State{Status: container.ContainerState(c.State), Running: c.State == "running"}, HostConfig: &c.Host}
		cfg := c.Config
		writeJSON(w, 200, container.InspectResponse{ContainerJSONBase: base, Config: &cfg,
			NetworkSettings: &container.NetworkSettings{Networks: c.Nets}})
	case r.Method == http.MethodPost && op == "start" && f.StartDelay > 0:
		d := f.StartDelay
		f.mu.Unlock()
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		f.mu.Lock()
		fallthrough
	case r.Method == http.MethodPost && op == "start":
		if f.StartError != "" {
			apiError(w, 500, f.StartError)
			return
		}
		c.State = "running"
		if c.started != nil {
			close(c.started)
		}
		w.WriteHeader(204)
	case r.Method == http.MethodPost && op == "attach":
		f.attach(w, c)
	case r.Method == http.MethodPost && (op == "stop" || op == "kill"):
		if op == "stop" {
			if f.Stops == nil {
				f.Stops = map[string]string{}
			}
			f.Stops[c.ID] = r.URL.Query().Get("t")
		}
		c.exit()
		if c.Host.AutoRemove {
			delete(f.Containers, c.ID)
		}
		w.WriteHeader(204)
	case r.Method == http.MethodPost && op == "wait" && c.conn != nil:
		f.mu.Unlock()
		select {
		case <-c.exited:
		case <-r.Context().Done():
		}
		f.mu.Lock()
		writeJSON(w, 200, container.WaitResponse{StatusCode: int64(c.Exit)})
	case r.Method == http.MethodPost && op == "wait":
		d := f.WaitDelay
		f.mu.Unlock()
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		f.mu.Lock()
		c.State = "exited"
		writeJSON(w, 200, container.WaitResponse{StatusCode: int64(c.Exit)})
	case r.Method == http.MethodGet && op == "logs":
		w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
		w.WriteHeader(200)
		for _, l := range c.Logs {
			typ := stdcopy.Stdout
			if l.Stderr {
				typ = stdcopy.Stderr
			}
			_, _ = stdcopy.NewStdWriter(w, typ).Write([]byte(l.Text))
		}
	case r.Method == http.MethodDelete && op == "" && f.RemoveFailures > 0:
		f.RemoveFailures--
		apiError(w, 500, "fake: removal failed")
	case r.Method == http.MethodDelete && op == "":
		c.exit()
		delete(f.Containers, c.ID)
		w.WriteHeader(204)
	default:
		apiError(w, 404, "fake: no route")
	}
}

// attach hijacks the connection like dockerd (101, then Docker's
// multiplexed stream). Once the container is started, the "process" reads
// stdin to its end, writes its Logs (and stdin again with Echo), then
// runs on for WaitDelay (or until killed) and exits. Called with f.mu
// held.
func (f *fakeEngine) attach(w http.ResponseWriter, c *fakeContainer) {
	conn, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	_, _ = rw.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n" +
		"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	_ = rw.Flush()
	c.conn = conn
	delay := f.WaitDelay
	go func() {
		select {
		case <-c.started:
		case <-c.exited:
			return
		}
		in, _ := io.ReadAll(rw)
		f.mu.Lock()
		c.Stdin = in
		logs := append([]fakeLog(nil), c.Logs...)
		if c.Echo {
			logs = append(logs, fakeLog{Text: string(in)})
		}
		f.mu.Unlock()
		for _, l := range logs {
			typ := stdcopy.Stdout
			if l.Stderr {
				typ = stdcopy.Stderr
			}
			if _, err := stdcopy.NewStdWriter(conn, typ).Write([]byte(l.Text)); err != nil {
				break
			}
		}
		select {
		case <-time.After(delay):
		case <-c.exited:
		}
		f.mu.Lock()
		c.exit()
		f.mu.Unlock()
	}()
}

// deadAddr returns "tcp://127.0.0.1:port" where nothing listens: a
// listener is bound and closed.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "tcp://" + addr
}

func configWithLabels(labels map[string]string) container.Config {
	return container.Config{Image: "mitosis:test", Labels: labels}
}
