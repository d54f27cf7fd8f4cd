//go:build ignore

package main

import (
	"fmt"
	"os"
	"os/signal"

	"github.com/appserver-go/appserver/internal/e2emock"
)

func main() {
	base, stop := e2emock.Start()
	defer stop()
	fmt.Println(base)
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	<-c
}
