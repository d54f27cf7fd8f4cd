//go:build !linux

package sandbox_test

func targetMode(mode, addr string) int { return 2 }
