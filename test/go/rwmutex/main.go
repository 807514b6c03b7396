// rwmutex runs etcd's own readers-writer lock recipe (contrib/recipes RWMutex, from Debian's
// golang-etcd-server-dev) against any etcd-compatible server, for interoperability tests with the SDK's RwLock
// (same key layout: <name>/read/…, <name>/write/…).
//
//	rwmutex -endpoints E -name L -cycles N -mode write|read [-unsafe]
//
// write: N x (Lock, read-modify-write of the integer at <name>-counter with a pause in between, Unlock); a lost
// update shows that two writers overlapped. read: N x (RLock, read the counter twice around a pause, RUnlock);
// a changed value shows that a writer overlapped a reader. -unsafe skips the locks (negative control).
// Prints one JSON line per cycle: {"mode":M,"cycle":i,"torn":bool} (torn: the reader saw a change).
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
	recipe "go.etcd.io/etcd/contrib/recipes"
)

func main() {
	eps := flag.String("endpoints", "127.0.0.1:2379", "comma-separated endpoints")
	name := flag.String("name", "go-rwmutex", "lock name")
	cycles := flag.Int("cycles", 10, "cycles to run")
	mode := flag.String("mode", "write", "write | read")
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
	read := func() int {
		r, err := c.Get(ctx, counter)
		if err != nil {
			fail(err)
		}
		n := 0
		if len(r.Kvs) > 0 {
			n, _ = strconv.Atoi(string(r.Kvs[0].Value))
		}
		return n
	}
	for i := 0; i < *cycles; i++ {
		m := recipe.NewRWMutex(s, *name)
		torn := false
		if *mode == "write" {
			if !*unsafe {
				if err := m.Lock(); err != nil {
					fail(err)
				}
			}
			n := read()
			time.Sleep(2 * time.Millisecond) // widen the window a second writer would race in
			if _, err := c.Put(ctx, counter, strconv.Itoa(n+1)); err != nil {
				fail(err)
			}
			if !*unsafe {
				if err := m.Unlock(); err != nil {
					fail(err)
				}
			}
		} else {
			if !*unsafe {
				if err := m.RLock(); err != nil {
					fail(err)
				}
			}
			a := read()
			time.Sleep(2 * time.Millisecond)
			torn = read() != a
			if !*unsafe {
				if err := m.RUnlock(); err != nil {
					fail(err)
				}
			}
		}
		fmt.Printf("{\"mode\":%q,\"cycle\":%d,\"torn\":%v}\n", *mode, i, torn)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "rwmutex:", err)
	os.Exit(1)
}
