// Command gcp is the comparison peer of the xDS benchmarks: it serves, from
// go-control-plane's snapshot cache, exactly the resources another server
// was dumped serving (one <node-id>.pb per node, as written by xds_load's
// -dump-before/-dump-after), and switches every node to a second dump on
// POST /update (and back to the first on the next, so updates repeat).
//
//	gcp -listen 127.0.0.1:18100 -admin 127.0.0.1:18101 -initial DIR [-update DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	cache "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/grpc"
)

type options struct {
	listen  string
	admin   string
	initial string
	update  string
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("gcp", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:18100", "xDS gRPC address (ADS, state-of-the-world and delta)")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:18101", "admin HTTP address: GET /ready, POST /update")
	fs.StringVar(&o.initial, "initial", "", "dump directory served at start (required)")
	fs.StringVar(&o.update, "update", "", "dump directory installed by POST /update")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.initial == "" {
		return o, errors.New("-initial DIR is required")
	}
	if o.listen == o.admin {
		return o, fmt.Errorf("-listen and -admin are both %s", o.listen)
	}
	return o, nil
}

// loadDumps reads both dumps before anything is served, sharing decoded
// resources between them.
func loadDumps(o options) (initial, update map[string]*cache.Snapshot, err error) {
	in := interner{}
	initial, err = loadDumpDir(o.initial, in)
	if err != nil {
		return nil, nil, fmt.Errorf("-initial: %w", err)
	}
	if o.update != "" {
		update, err = loadDumpDir(o.update, in)
		if err != nil {
			return nil, nil, fmt.Errorf("-update: %w", err)
		}
		for node := range update {
			if _, ok := initial[node]; !ok {
				log.Printf("warning: node %s is in the update dump but not in the initial one", node)
			}
		}
	}
	log.Printf("loaded %d nodes (%d with an update), %d distinct resources", len(initial), len(update), len(in))
	return initial, update, nil
}

func run(args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	started := time.Now()
	initial, update, err := loadDumps(o)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	p, err := newPeer(ctx, initial, update)
	if err != nil {
		return err
	}
	// Loading leaves decoded dump files behind as garbage; return it before
	// serving so the serving footprint is what gets measured.
	runtime.GC()
	debug.FreeOSMemory()

	xdsListener, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("-listen %s: %w", o.listen, err)
	}
	adminListener, err := net.Listen("tcp", o.admin)
	if err != nil {
		xdsListener.Close()
		return fmt.Errorf("-admin %s: %w", o.admin, err)
	}
	grpcServer := p.grpcServer()
	adminServer := &http.Server{Handler: p.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 2)
	go func() { errs <- grpcServer.Serve(xdsListener) }()
	go func() { errs <- adminServer.Serve(adminListener) }()
	p.ready.Store(true)
	fmt.Printf("gcp: serving xDS on %s, admin on %s (%d nodes loaded in %s)\n",
		xdsListener.Addr(), adminListener.Addr(), len(initial), time.Since(started).Round(time.Millisecond))

	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	// Streams of xDS clients never end by themselves: stop, not drain.
	grpcServer.Stop()
	adminServer.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("gcp: ")
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "gcp:", err)
		os.Exit(1)
	}
}
