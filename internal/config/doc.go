// Package config is the replica's settings: the table of MITOSIS_*
// variables (each mirrored by a flag), parsing the environment and the
// command line into a Config, validation that reports every problem at
// once, and printing the effective values. It must not start anything or
// read anything but the environ and args it is given; each package keeps
// its own part of the Config (Config, DefaultConfig, Validate) and this
// package only gathers them.
package config
