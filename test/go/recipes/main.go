// recipes runs etcd's own Go concurrency recipes (clientv3/concurrency Mutex and Election, from Debian's
// golang-etcd-server-dev) against any etcd-compatible cluster, for interoperability tests.
//
//	recipes -endpoints E -op lock  -name L -cycles N [-unsafe]   # N x (Lock, counter read-modify-write, Unlock)
//	recipes -endpoints E -op elect -name L -cycles N -id W        # N x (Campaign, counter read-modify-write, Resign)
//
// Inside each critical section it increments the integer stored at <name>-counter with a plain Get then Put, so
// a lost update shows that two holders overlapped. -unsafe skips the lock (a negative control). It prints one
// JSON line per cycle: {"cycle":i,"key":lockKey,"rev":createRevision}.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
)

func main() {
	eps := flag.String("endpoints", "127.0.0.1:2379", "comma-separated endpoints")
	op := flag.String("op", "lock", "lock | elect")
	name := flag.String("name", "go-recipes", "lock or election name")
	cycles := flag.Int("cycles", 10, "cycles to run")
	id := flag.String("id", "w", "this worker's campaign value")
	unsafe := flag.Bool("unsafe", false, "skip the lock (negative control)")
	flag.Parse()

	c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*eps, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		fail(err)
	}
	defer c.Close()
	s, err := concurrency.NewSession(c, concurrency.WithTTL(10))
	if err != nil {
		fail(err)
	}
	defer s.Close()
	ctx := context.Background()
	counter := *name + "-counter"
	increment := func() {
		r, err := c.Get(ctx, counter)
		if err != nil {
			fail(err)
		}
		n := 0
		if len(r.Kvs) > 0 {
			n, _ = strconv.Atoi(string(r.Kvs[0].Value))
		}
		time.Sleep(time.Millisecond) // widen the window a second holder would race in
		if _, err := c.Put(ctx, counter, strconv.Itoa(n+1)); err != nil {
			fail(err)
		}
	}
	for i := 0; i < *cycles; i++ {
		switch *op {
		case "lock":
			m := concurrency.NewMutex(s, *name)
			if !*unsafe {
				if err := m.Lock(ctx); err != nil {
					fail(err)
				}
			}
			increment()
			rev := int64(0)
			if !*unsafe {
				rev = m.Header().Revision
				if err := m.Unlock(ctx); err != nil {
					fail(err)
				}
			}
			fmt.Printf("{\"cycle\":%d,\"key\":%q,\"rev\":%d}\n", i, m.Key(), rev)
		case "elect":
			e := concurrency.NewElection(s, *name)
			if err := e.Campaign(ctx, *id); err != nil {
				fail(err)
			}
			l, err := e.Leader(ctx)
			if err != nil {
				fail(err)
			}
			if string(l.Kvs[0].Value) != *id {
				fail(fmt.Errorf("campaign returned but the leader is %q", l.Kvs[0].Value))
			}
			increment()
			if err := e.Resign(ctx); err != nil {
				fail(err)
			}
			fmt.Printf("{\"cycle\":%d,\"key\":%q,\"rev\":%d}\n", i, e.Key(), e.Rev())
		default:
			fail(fmt.Errorf("unknown -op %q", *op))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "recipes:", err)
	os.Exit(1)
}
