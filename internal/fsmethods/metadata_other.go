//go:build !linux

package fsmethods

func statPath(path string, m *metadata) error { return statFallback(path, m) }
