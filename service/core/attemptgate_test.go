package core

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
)

func TestAttemptGate(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, g *attemptGate)
	}{
		{"one at a time per key", func(t *testing.T, g *attemptGate) {
			var mu sync.Mutex
			inFlight, most := 0, 0
			var wg sync.WaitGroup
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					leave, err := g.enter(context.Background(), "up:alice|192.0.2.1")
					if err != nil {
						t.Errorf("enter: %v", err)
						return
					}
					mu.Lock()
					inFlight++
					most = max(most, inFlight)
					mu.Unlock()
					time.Sleep(time.Millisecond)
					mu.Lock()
					inFlight--
					mu.Unlock()
					leave()
				}()
			}
			wg.Wait()
			if most != 1 {
				t.Fatalf("%d attempts of one pair ran at once, want 1", most)
			}
		}},
		{"other keys do not wait", func(t *testing.T, g *attemptGate) {
			leave, err := g.enter(context.Background(), "up:alice|192.0.2.1")
			if err != nil {
				t.Fatal(err)
			}
			defer leave()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			other, err := g.enter(ctx, "up:bob|192.0.2.1")
			if err != nil {
				t.Fatalf("another pair waited for alice's: %v", err)
			}
			other()
		}},
		{"queue is bounded", func(t *testing.T, g *attemptGate) {
			leave, err := g.enter(context.Background(), "k")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range maxPairQueue {
				wg.Add(1)
				go func() { defer wg.Done(); _, _ = g.enter(ctx, "k") }()
			}
			deadline := time.Now().Add(5 * time.Second)
			for g.users("k") < maxPairQueue+1 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			_, err = g.enter(context.Background(), "k")
			if errs.KindOf(err) != errs.ResourceExhausted {
				t.Errorf("enter beyond the queue: %v, want ResourceExhausted", err)
			}
			cancel()
			wg.Wait()
			leave()
			if n := g.users("k"); n != 0 {
				t.Errorf("%d users left on the key after everyone left", n)
			}
		}},
		{"cancelled wait", func(t *testing.T, g *attemptGate) {
			leave, err := g.enter(context.Background(), "k")
			if err != nil {
				t.Fatal(err)
			}
			defer leave()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if _, err := g.enter(ctx, "k"); errs.KindOf(err) != errs.Unavailable {
				t.Fatalf("enter with an expiring context: %v, want Unavailable", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newAttemptGate()) })
	}
}

// users is how many attempts hold or wait for key's turn.
func (g *attemptGate) users(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := g.pairs[key]; t != nil {
		return t.users
	}
	return 0
}
