package functions

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Function is one function a replica may run: a mapped image (or, for the
// process driver, a local command) with fixed arguments. Only functions
// listed in Config ever run: nothing in a request or a call names an
// image, a command or a container option.
type Function struct {
	// Name names the function in calls, metrics and logs. For routes of
	// MITOSIS_FUNCTIONS it is the path ("/record").
	Name string
	// Path is the URL path prefix served by the function ("/record"
	// serves /record and /record/...); empty: callable from Go only.
	Path string
	// Image is the container image to run (not pulled: it must be on the
	// engine); empty when Command is set.
	Image string
	// Command is the local program of an `exec:` function (run by the
	// process runner); empty when Image is set.
	Command string
	// Args are the arguments: after the image's ENTRYPOINT (replacing its
	// CMD), or after Command.
	Args []string
	// Async answers 202 at once and runs in the background (the
	// article's `dockerrun -d`).
	Async bool
}

// Kind says which runner a function needs.
func (f Function) Kind() string {
	if f.Command != "" {
		return KindExec
	}
	return KindImage
}

// Runner kinds.
const (
	KindImage = "image" // a container on the engine (or through the guard)
	KindExec  = "exec"  // a local command
)

func (f Function) String() string {
	s := f.Image
	if f.Command != "" {
		s = execPrefix + f.Command
	}
	if len(f.Args) > 0 {
		s += " " + strings.Join(f.Args, " ")
	}
	if f.Path == "" {
		return f.Name + "=" + s
	}
	p := f.Path
	if f.Async {
		p += ";async"
	}
	return p + "=" + s
}

const execPrefix = "exec:"

var (
	// imageRef is a Docker image reference: [registry[:port]/]path[:tag][@digest],
	// lower-case path components. It cannot start with '-' and holds no
	// space, so it can never be read as an option.
	imageRef = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)
	// routePath is a clean URL path of safe characters.
	routePath = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*$`)
	// funcName names a Go-only function (a metrics label value).
	funcName = regexp.MustCompile(`^(?:/|/?[A-Za-z0-9][A-Za-z0-9._/-]{0,63})$`)
)

// Routes is the MITOSIS_FUNCTIONS value of the routed functions of fs
// (those with a Path), the inverse of ParseRoutes.
func Routes(fs []Function) string {
	var out []string
	for _, f := range fs {
		if f.Path != "" {
			out = append(out, f.String())
		}
	}
	return strings.Join(out, ",")
}

// ParseRoutes reads MITOSIS_FUNCTIONS: comma-separated entries
//
//	PATH[;async]=TARGET [ARG...]
//
// where TARGET is an image reference (`voting:1`, `registry:5000/thumbs@sha256:...`)
// or `exec:COMMAND` for a local program, and the arguments are separated
// by spaces (no quoting: an argument holds no space or comma). Example:
//
//	/record=voting:1 record,/thumb;async=thumbs:2,/hello=exec:./hello -v
//
// Every problem is reported with the entry it is in (the caller names the
// variable).
func ParseRoutes(value string) ([]Function, error) {
	var out []Function
	var errs []error
	for _, entry := range strings.Split(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		f, err := parseRoute(entry)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %q: %w", entry, err))
			continue
		}
		out = append(out, f)
	}
	return out, errors.Join(errs...)
}

func parseRoute(entry string) (Function, error) {
	key, target, ok := strings.Cut(entry, "=")
	if !ok {
		return Function{}, errors.New("must be PATH[;async]=IMAGE [ARG...] or PATH[;async]=exec:COMMAND [ARG...]")
	}
	p, flags, _ := strings.Cut(strings.TrimSpace(key), ";")
	f := Function{Name: p, Path: p}
	for _, fl := range strings.Split(flags, ";") {
		switch strings.TrimSpace(fl) {
		case "":
		case "async":
			f.Async = true
		default:
			return Function{}, fmt.Errorf("unknown flag %q: the only flag is async", fl)
		}
	}
	if err := checkPath(p); err != nil {
		return Function{}, err
	}
	if err := parseTarget(&f, target); err != nil {
		return Function{}, err
	}
	return f, nil
}

// ParseTarget reads `IMAGE [ARG...]` or `exec:COMMAND [ARG...]` into a
// function named name without a route (a Go-only function).
func ParseTarget(name, target string) (Function, error) {
	f := Function{Name: name}
	if err := parseTarget(&f, target); err != nil {
		return Function{}, err
	}
	return f, f.check()
}

func parseTarget(f *Function, target string) error {
	fields := strings.Fields(target)
	if len(fields) == 0 {
		return errors.New("no image or exec: command after '='")
	}
	if cmd, ok := strings.CutPrefix(fields[0], execPrefix); ok {
		if cmd == "" {
			return errors.New("exec: needs a command, such as exec:./record")
		}
		f.Command = cmd
	} else {
		f.Image = fields[0]
	}
	f.Args = fields[1:]
	return f.checkTarget()
}

func checkPath(p string) error {
	switch {
	case !routePath.MatchString(p):
		return fmt.Errorf("path %q: must start with / and hold only letters, digits and . _ ~ / -", p)
	case p != "/" && (path.Clean(p) != p):
		return fmt.Errorf("path %q: must be clean (no trailing /, no //, . or .. segments)", p)
	}
	return nil
}

func (f Function) checkTarget() error {
	switch {
	case f.Image != "" && f.Command != "":
		return errors.New("both an image and an exec: command")
	case f.Image == "" && f.Command == "":
		return errors.New("no image or exec: command")
	case f.Image != "" && !imageRef.MatchString(f.Image):
		return fmt.Errorf("image %q: not an image reference such as name:tag or registry/name@sha256:<digest>", f.Image)
	case strings.ContainsAny(f.Command, "\x00"):
		return errors.New("command holds NUL")
	}
	for _, a := range f.Args {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("argument %q holds NUL", a)
		}
	}
	return nil
}

// check validates a whole function (Config.Validate calls it).
func (f Function) check() error {
	if !funcName.MatchString(f.Name) {
		return fmt.Errorf("function name %q: must be 1-64 of letters, digits and . _ / - (starting with a letter, a digit or /)", f.Name)
	}
	if f.Path != "" {
		if err := checkPath(f.Path); err != nil {
			return err
		}
	}
	if f.Async && f.Path == "" {
		return errors.New("async is a route flag: a Go caller uses Set.Start instead")
	}
	return f.checkTarget()
}
