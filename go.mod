module github.com/appserver-go/appserver

go 1.26.8

require (
	github.com/coder/websocket v1.8.15
	github.com/golang-jwt/jwt/v5 v5.3.1
	go.uber.org/goleak v1.3.0
)

require golang.org/x/time v0.16.0
