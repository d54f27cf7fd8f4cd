//go:build !linux

package fsmethods

import "os"

func statPath(path string, m *metadata) error { return statFallback(path, m) }

func statOpened(path string, m *metadata, _ func(*os.File) error) error { return statFallback(path, m) }
