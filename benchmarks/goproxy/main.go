// A compiled yardstick: Go's standard reverse proxy in front of one function, nothing else.
//
//	goproxy <listen port> <function port>
//
// It passes `/function/<name>/<path>` on as `/<path>` over keep-alive connections that
// net/http's Transport pools. No limits, metrics or routes: it shows what one hop costs
// on this machine when the proxy's own work is compiled (OpenFaaS's gateway is Go too).
package main

import (
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: goproxy <listen port> <function port>")
	}
	function, err := url.Parse("http://127.0.0.1:" + os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(function)
			rest := strings.TrimPrefix(r.In.URL.Path, "/function/")
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				r.Out.URL.Path = rest[i:]
			} else {
				r.Out.URL.Path = "/"
			}
			r.Out.URL.RawPath = ""
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Args[1], proxy))
}
