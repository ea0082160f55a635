// Command hashiraft is one server of the hashicorp/raft peer in raftstore's cluster benchmark.
//
// One process per server: a BoltDB log and stable store (raft-boltdb, NoSync false, so every append is fsynced),
// wrapped in a 512-entry LogCache as Consul does, a FileSnapshotStore and a TCP NetworkTransport on 127.0.0.1.
// The Python driver (benchmarks/peers/hashicorp_raft.py) talks to each process over a small HTTP control port:
//
//	GET  /state                                        {"state": "Leader", "leader": "127.0.0.1:port"}
//	POST /bootstrap?servers=id=addr,id=addr,...        bootstraps the configuration (on one server only)
//	POST /run?in_flight=N&seconds=S&key_size=K&value_size=V
//	                                                   on the leader: N goroutines apply commands through
//	                                                   raft.Apply and wait on each future; answers one JSON line
//
// The load runs inside the leader process, so hashicorp's side pays no client round trip: that is the same
// position as raftstore's own load generator, which applies through the leader's Python API.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb"
)

// kvFSM is a plain map from key to value: enough state that applying a command does real work, and snapshots are a
// stream of length-prefixed pairs.
type kvFSM struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (f *kvFSM) Apply(l *raft.Log) interface{} {
	if len(l.Data) < 4 {
		return errors.New("short command")
	}
	keyLen := binary.BigEndian.Uint32(l.Data[:4])
	if int(keyLen) > len(l.Data)-4 {
		return errors.New("bad key length")
	}
	key := string(l.Data[4 : 4+keyLen])
	value := append([]byte(nil), l.Data[4+keyLen:]...)
	f.mu.Lock()
	f.data[key] = value
	f.mu.Unlock()
	return nil
}

type kvSnapshot struct{ data map[string][]byte }

func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	clone := make(map[string][]byte, len(f.data))
	for k, v := range f.data {
		clone[k] = v
	}
	return &kvSnapshot{clone}, nil
}

func (s *kvSnapshot) Persist(sink raft.SnapshotSink) error {
	header := make([]byte, 8)
	for k, v := range s.data {
		binary.BigEndian.PutUint32(header[:4], uint32(len(k)))
		binary.BigEndian.PutUint32(header[4:], uint32(len(v)))
		if _, err := sink.Write(header); err != nil {
			sink.Cancel()
			return err
		}
		if _, err := sink.Write([]byte(k)); err != nil {
			sink.Cancel()
			return err
		}
		if _, err := sink.Write(v); err != nil {
			sink.Cancel()
			return err
		}
	}
	return sink.Close()
}

func (s *kvSnapshot) Release() {}

func (f *kvFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data := make(map[string][]byte)
	header := make([]byte, 8)
	for {
		if _, err := io.ReadFull(rc, header); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		pair := make([]byte, binary.BigEndian.Uint32(header[:4])+binary.BigEndian.Uint32(header[4:]))
		if _, err := io.ReadFull(rc, pair); err != nil {
			return err
		}
		keyLen := binary.BigEndian.Uint32(header[:4])
		data[string(pair[:keyLen])] = pair[keyLen:]
	}
	f.mu.Lock()
	f.data = data
	f.mu.Unlock()
	return nil
}

type server struct {
	raft *raft.Raft
	id   string
	addr raft.ServerAddress
}

func writeJSON(w http.ResponseWriter, status int, body interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *server) handleState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]string{"state": s.raft.State().String(), "leader": string(s.raft.Leader())})
}

func (s *server) handleBootstrap(w http.ResponseWriter, r *http.Request) {
	var configuration raft.Configuration
	for _, item := range strings.Split(r.URL.Query().Get("servers"), ",") {
		parts := strings.SplitN(item, "=", 2)
		if len(parts) != 2 {
			writeJSON(w, 400, map[string]string{"error": "servers must be id=addr,..."})
			return
		}
		configuration.Servers = append(configuration.Servers, raft.Server{
			Suffrage: raft.Voter, ID: raft.ServerID(parts[0]), Address: raft.ServerAddress(parts[1]),
		})
	}
	if err := s.raft.BootstrapCluster(configuration).Error(); err != nil {
		writeJSON(w, 500, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, 200, map[string]bool{"ok": true})
}

func intParam(r *http.Request, name string, fallback int) int {
	if v, err := strconv.Atoi(r.URL.Query().Get(name)); err == nil {
		return v
	}
	return fallback
}

func percentile(sorted []int64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q * float64(len(sorted)-1))
	return float64(sorted[rank]) / 1000.0
}

// handleRun keeps inFlight commands outstanding for the given time: each goroutine applies a command, waits on its
// future, records the latency and applies the next. Keys cycle through a bounded key space so the FSM stays small.
func (s *server) handleRun(w http.ResponseWriter, r *http.Request) {
	inFlight := intParam(r, "in_flight", 1)
	keySize := intParam(r, "key_size", 16)
	valueSize := intParam(r, "value_size", 128)
	seconds, err := strconv.ParseFloat(r.URL.Query().Get("seconds"), 64)
	if err != nil || inFlight < 1 || keySize < 8 || valueSize < 0 || seconds <= 0 {
		writeJSON(w, 400, map[string]string{"error": "need in_flight>=1, key_size>=8, value_size>=0, seconds>0"})
		return
	}
	if s.raft.State() != raft.Leader {
		writeJSON(w, 409, map[string]string{"error": "not the leader"})
		return
	}
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	latencies := make([][]int64, inFlight)
	failures := make([]int, inFlight)
	var wg sync.WaitGroup
	started := time.Now()
	for worker := 0; worker < inFlight; worker++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			cmd := make([]byte, 4+keySize+valueSize)
			binary.BigEndian.PutUint32(cmd[:4], uint32(keySize))
			for i := range cmd[4+keySize:] {
				cmd[4+keySize+i] = byte('v')
			}
			key := cmd[4 : 4+keySize]
			for n := 0; time.Now().Before(deadline); n++ {
				copy(key, fmt.Sprintf("%0*d", keySize, (worker*1_000_003+n)%100_000))
				begin := time.Now()
				future := s.raft.Apply(append([]byte(nil), cmd...), 10*time.Second)
				if err := future.Error(); err != nil {
					failures[worker]++
					continue
				}
				latencies[worker] = append(latencies[worker], time.Since(begin).Nanoseconds())
			}
		}(worker)
	}
	wg.Wait()
	elapsed := time.Since(started).Seconds()
	var all []int64
	errorsTotal := 0
	for worker := range latencies {
		all = append(all, latencies[worker]...)
		errorsTotal += failures[worker]
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	writeJSON(w, 200, map[string]interface{}{
		"commits_per_s": float64(len(all)) / elapsed,
		"p50_us":        percentile(all, 0.50),
		"p90_us":        percentile(all, 0.90),
		"p99_us":        percentile(all, 0.99),
		"max_us":        percentile(all, 1.0),
		"ops":           len(all),
		"errors":        errorsTotal,
		"elapsed_s":     elapsed,
	})
}

func main() {
	id := flag.String("id", "", "server id")
	dir := flag.String("dir", "", "data directory")
	raftAddr := flag.String("raft", "", "raft TCP address (127.0.0.1:port)")
	controlAddr := flag.String("control", "", "HTTP control address (127.0.0.1:port)")
	flag.Parse()
	if *id == "" || *dir == "" || *raftAddr == "" || *controlAddr == "" {
		log.Fatal("need -id, -dir, -raft and -control")
	}
	logFile, err := os.OpenFile(filepath.Join(*dir, "raft.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	config := raft.DefaultConfig() // hashicorp's timeouts: heartbeat 1 s, election 1 s, commit 50 ms
	config.LocalID = raft.ServerID(*id)
	config.LogOutput = logFile
	config.LogLevel = "WARN"

	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(*dir, "raft.db"), NoSync: false})
	if err != nil {
		log.Fatal(err)
	}
	cached, err := raft.NewLogCache(512, store) // as Consul wraps its BoltStore
	if err != nil {
		log.Fatal(err)
	}
	snapshots, err := raft.NewFileSnapshotStore(*dir, 2, logFile)
	if err != nil {
		log.Fatal(err)
	}
	advertise, err := net.ResolveTCPAddr("tcp", *raftAddr)
	if err != nil {
		log.Fatal(err)
	}
	transport, err := raft.NewTCPTransport(*raftAddr, advertise, 3, 10*time.Second, logFile)
	if err != nil {
		log.Fatal(err)
	}
	r, err := raft.NewRaft(config, &kvFSM{data: make(map[string][]byte)}, cached, store, snapshots, transport)
	if err != nil {
		log.Fatal(err)
	}
	s := &server{raft: r, id: *id, addr: transport.LocalAddr()}
	mux := http.NewServeMux()
	mux.HandleFunc("/state", s.handleState)
	mux.HandleFunc("/bootstrap", s.handleBootstrap)
	mux.HandleFunc("/run", s.handleRun)
	listener, err := net.Listen("tcp", *controlAddr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	log.Fatal(http.Serve(listener, mux))
}
