// Package functions runs function containers (the serverless half of the
// 2016 article "Serverless apps with Docker": a container per request or
// per job). It owns the function routes (MITOSIS_FUNCTIONS, ParseRoutes),
// the CGI-style mapping of a request onto a run (environment, stdin) and of
// a run's stdout onto a response, and the limits of every run: a slot per
// run with a bounded FIFO queue and a wait timeout (503 with Retry-After
// beyond), a run timeout, body, environment and output caps, an async
// backlog, per-function metrics and the drain of runs in progress.
//
// Runs go through a Runner: ContainerRunner (spawner.Tasks on the engine,
// or the guard's client, with their forced-safe container settings) or
// ProcessRunner (a local program, for the process driver). Only the
// configured functions ever run: a request or a call names a function,
// never an image, a command, an argument list or a container option;
// request data reaches a function as HTTP_* / CGI variables and stdin
// only.
//
// It must not decide scaling, talk to Docker itself (that is spawner's),
// or trust a request header to mean anything but data. A Set is safe for
// concurrent use.
package functions
