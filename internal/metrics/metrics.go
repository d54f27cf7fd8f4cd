// Package metrics exposes appserver's counters and gauges in the
// Prometheus text format. It is the only package that imports the
// Prometheus client; the server reports through plain callbacks and
// [appserver.Server.Stats].
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/appserver-go/appserver"
)

// Metrics holds the registry and the instruments fed by callbacks.
type Metrics struct {
	reg      *prometheus.Registry
	upgrades *prometheus.CounterVec
	requests *prometheus.CounterVec
	refused  *prometheus.CounterVec
	methods  map[string]bool
}

// New returns the metrics for srv. methods lists the method names that may
// appear as labels; anything else is counted as "unknown", so a client
// sending random method names cannot grow the label set.
func New(srv *appserver.Server) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), methods: map[string]bool{}}
	for _, meth := range srv.Methods() {
		m.methods[meth.Name] = true
	}
	m.upgrades = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "appserver_websocket_upgrades_total",
		Help: "WebSocket upgrade decisions by outcome (accepted, rejected, limited) and reason.",
	}, []string{"outcome", "reason"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "appserver_requests_total",
		Help: "Answered JSON-RPC requests by method and code (0 for a result).",
	}, []string{"method", "code"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "appserver_connections_refused_total",
		Help: "TCP connections refused before any request was read, by reason.",
	}, []string{"reason"})
	stat := func(f func(appserver.Stats) float64) func() float64 {
		return func() float64 { return f(srv.Stats()) }
	}
	m.reg.MustRegister(
		m.upgrades, m.requests, m.refused,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "appserver_connections",
			Help: "Connected sessions.",
		}, stat(func(s appserver.Stats) float64 { return float64(s.Sessions) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "appserver_requests_in_flight",
			Help: "Requests running.",
		}, stat(func(s appserver.Stats) float64 { return float64(s.InFlight) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "appserver_outbound_queue_messages",
			Help: "Messages waiting to be written, summed over connections.",
		}, stat(func(s appserver.Stats) float64 { return float64(s.QueuedMessages) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "appserver_slow_consumer_disconnects_total",
			Help: "Connections closed (1008) because the client stopped reading and its outbound queue overflowed.",
		}, stat(func(s appserver.Stats) float64 { return float64(s.SlowConsumerDisconnects) })),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Upgrade counts one upgrade decision; it fits wstransport.Options.OnDecision.
func (m *Metrics) Upgrade(outcome, reason string) {
	m.upgrades.WithLabelValues(outcome, reason).Inc()
}

// RequestDone counts one answered request; it fits
// appserver.ServerOptions.OnRequestDone. The method table is read when New
// runs, so register methods first.
func (m *Metrics) RequestDone(method string, code int64) {
	if !m.methods[method] {
		method = "unknown"
	}
	m.requests.WithLabelValues(method, strconv.FormatInt(code, 10)).Inc()
}

// Refused counts a connection refused by a connection limit.
func (m *Metrics) Refused(reason string) {
	m.refused.WithLabelValues(reason).Inc()
}
