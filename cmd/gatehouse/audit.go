package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/user"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/server"
)

func newAuditCmd() *cobra.Command {
	return newGroup("audit", "Read the audit trail", "audit", newAuditListCmd())
}

func newAuditListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first (table or --json)",
		Example: `  gatehouse audit list --type login.failed --since 24h
  gatehouse audit list --actor ACCOUNT_ID --limit 500 --json`,
		Args: noArgs,
	}
	var f struct {
		since, until, actor, target, typ string
		limit                            int
		asJSON                           bool
	}
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "only events at or after this time: RFC 3339 (2026-12-01T08:00:00Z) or an age (24h)")
	fl.StringVar(&f.until, "until", "", "only events before this time: RFC 3339 or an age")
	fl.StringVar(&f.actor, "actor", "", "only events by this actor (account id, system or anonymous)")
	fl.StringVar(&f.target, "target", "", "only events about this target (account id, session id, issuer id or kid)")
	fl.StringVar(&f.typ, "type", "", "only events of this type (user.created, login.failed, key.activated, ...)")
	fl.IntVar(&f.limit, "limit", 100, "most events to show")
	fl.BoolVar(&f.asJSON, "json", false, "one JSON object per line instead of a table")
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		now := time.Now()
		since, err := auditTime(f.since, now)
		if err != nil {
			return usageErr("--since: %v", err)
		}
		until, err := auditTime(f.until, now)
		if err != nil {
			return usageErr("--until: %v", err)
		}
		if f.limit <= 0 {
			return usageErr("--limit must be at least 1")
		}
		filter := core.AuditFilter{Since: since, Until: until, Actor: f.actor, Target: f.target, Type: f.typ}
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			if !f.asJSON {
				fmt.Fprintln(tw, "TIME\tTYPE\tACTOR\tTARGET\tIP\tREQUEST\tDETAIL")
			}
			enc := json.NewEncoder(out)
			token, shown := "", 0
			for shown < f.limit {
				page, err := app.Core().ListAuditEvents(ctx, filter, min(f.limit-shown, 500), token)
				if err != nil {
					return err
				}
				for _, e := range page.Events {
					if f.asJSON {
						if err := enc.Encode(map[string]any{
							"id": e.ID, "time": e.Time, "type": e.Type, "actor": e.Actor, "actor_name": e.ActorName,
							"target": e.Target, "target_name": e.TargetName, "ip": e.IP, "request_id": e.RequestID, "detail": e.Detail,
						}); err != nil {
							return err
						}
						continue
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Type,
						named(e.Actor, e.ActorName), named(e.Target, e.TargetName), e.IP, e.RequestID, details(e.Detail))
				}
				shown += len(page.Events)
				if token = page.Next; token == "" {
					break
				}
			}
			if f.asJSON {
				return nil
			}
			return tw.Flush()
		})
	}
	return cmd
}

// auditTime reads an RFC 3339 time or an age before now ("" is no bound).
func auditTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor an age like 24h", s)
	}
	return t, nil
}

func named(id, name string) string {
	if name == "" || name == id {
		return id
	}
	return name + " (" + id + ")"
}

func details(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+d[k])
	}
	return strings.Join(parts, " ")
}

// cliActor names the operator of a CLI run in the audit events it causes
// (the actor itself stays "system": the CLI authenticates nobody).
func cliActor(ctx context.Context) context.Context {
	name := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = "cli:" + u.Username
	}
	return core.WithRequestInfo(ctx, &core.RequestInfo{ActorName: name})
}
