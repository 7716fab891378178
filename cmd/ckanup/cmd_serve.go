package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ckanup/ckanup/internal/tokenserver"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/time/rate"
)

// ServeOptions are the serve command's settings.
type ServeOptions struct {
	*Deps
	Listen      string
	ConfigFile  string
	EnabledOrgs string
	PerTokenRPS float64
	PerIPRPS    float64
	Config      tokenserver.Config
	// ready, when set, receives the listening address (tests).
	ready chan<- string
}

const serveEnvHelp = `Every flag can also be set in the environment as CKANUP_<FLAG> (upper case,
dashes as underscores: CKANUP_ROLE_ARN, CKANUP_ENABLED_ORGS, …) or in a JSON
config file (--config) with the flag names as keys. Flags win over the
environment, which wins over the file. The server's own AWS credentials and the
STS endpoint come from the standard AWS configuration (AWS_ENDPOINT_URL_STS,
AWS_ACCESS_KEY_ID…, AWS_PROFILE, instance roles).`

func newServeCmd(deps *Deps) *cobra.Command { return newServeCmdWith(deps, nil) }

// newServeCmdWith reports the listening address on ready (tests).
func newServeCmdWith(deps *Deps, ready chan<- string) *cobra.Command {
	o := &ServeOptions{Deps: deps, ready: ready}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the token endpoint that hands dataset-scoped AWS credentials to CKAN editors",
		Long: `Run ckanup's token endpoint beside CKAN. A publisher's ckanup POSTs its CKAN API
token and a dataset to /v1/credentials; the server asks CKAN who the token
belongs to and whether they may edit the dataset, and only then calls
sts:AssumeRole with a session policy confined to that dataset's key prefix.
See docs/token-endpoint.md for the IAM role, TLS and a systemd unit.

` + serveEnvHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.load(cmd.Flags()); err != nil {
				return err
			}
			return runServe(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	c := &o.Config
	f.StringVar(&o.ConfigFile, "config", "", "JSON config file")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8787", "listen address")
	f.StringVar(&c.CKANURL, "ckan-url", "", "CKAN site URL")
	f.StringVar(&c.CKANTokenHeader, "token-header", "", "header(s) callers' tokens are sent to CKAN in: Authorization, X-CKAN-API-Key or both (default both; callers may use either)")
	f.StringVar(&c.Bucket, "bucket", "", "S3 bucket")
	f.StringVar(&c.Region, "region", "", "AWS region of the bucket")
	f.StringVar(&c.RoleARN, "role-arn", "", "IAM role to assume for the credentials handed out")
	f.StringVar(&c.KeyPrefix, "key-prefix", "", "prefix of every object key")
	f.StringVar(&o.EnabledOrgs, "enabled-orgs", "", "organization names whose datasets get credentials (space or comma separated; * for all; empty: none)")
	f.DurationVar(&c.Duration, "duration", time.Hour, "lifetime of issued credentials (15m–12h)")
	f.StringVar(&c.S3Endpoint, "s3-endpoint", "", "S3-compatible endpoint, returned to clients")
	f.StringVar(&c.CORSOrigin, "cors-origin", "", "the one browser origin allowed to call the API (default: none)")
	f.Float64Var(&o.PerTokenRPS, "rate-per-token", 1, "requests per second per CKAN token (burst 10)")
	f.Float64Var(&o.PerIPRPS, "rate-per-ip", 5, "requests per second per client address (burst 30)")
	f.DurationVar(&c.CKANTimeout, "ckan-timeout", 10*time.Second, "timeout of each CKAN call")
	f.DurationVar(&c.STSTimeout, "sts-timeout", 10*time.Second, "timeout of each STS call")
	f.BoolVar(&c.TrustForwardedFor, "trust-forwarded-for", false, "behind a reverse proxy on the same host: take the client address from X-Forwarded-For")
	f.BoolVar(&c.AllowShortDuration, "allow-short-duration", false, "allow --duration below 15 minutes (testing only)")
	_ = f.MarkHidden("allow-short-duration")
	return cmd
}

// load applies the config file and the environment under the flags.
func (o *ServeOptions) load(fs *pflag.FlagSet) error {
	fileVals := map[string]any{}
	if o.ConfigFile != "" {
		b, err := os.ReadFile(o.ConfigFile)
		if err != nil {
			return usageErrorf("read --config: %v", err)
		}
		if err := json.Unmarshal(b, &fileVals); err != nil {
			return usageErrorf("--config %s: %v", o.ConfigFile, err)
		}
	}
	var errs []error
	fs.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "config" {
			return
		}
		env := "CKANUP_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v := o.Getenv(env); v != "" {
			if err := fl.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", env, err))
			}
			return
		}
		if v, ok := fileVals[fl.Name]; ok {
			delete(fileVals, fl.Name)
			s := fmt.Sprint(v)
			if list, isList := v.([]any); isList {
				parts := make([]string, len(list))
				for i, x := range list {
					parts[i] = fmt.Sprint(x)
				}
				s = strings.Join(parts, ",")
			}
			if err := fl.Value.Set(s); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %v", fl.Name, err))
			}
		}
	})
	for k := range fileVals {
		if fs.Lookup(k) == nil {
			errs = append(errs, fmt.Errorf("config file: unknown setting %q", k))
		}
	}
	o.Config.EnabledOrgs = strings.FieldsFunc(o.EnabledOrgs, func(r rune) bool { return r == ',' || r == ' ' })
	o.Config.PerTokenRate, o.Config.PerTokenBurst = rate.Limit(o.PerTokenRPS), 10
	o.Config.PerIPRate, o.Config.PerIPBurst = rate.Limit(o.PerIPRPS), 30
	if err := errors.Join(errs...); err != nil {
		return &usageError{err}
	}
	if err := o.Config.Validate(); err != nil {
		return &usageError{err}
	}
	return nil
}

func runServe(ctx context.Context, o *ServeOptions) error {
	audit := slog.New(slog.NewJSONHandler(o.Stderr, nil))
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(o.Config.Region))
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	stsClient := sts.NewFromConfig(awsCfg)
	s3Client := s3.NewFromConfig(awsCfg, func(so *s3.Options) {
		if o.Config.S3Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Config.S3Endpoint)
			so.UsePathStyle = true
		}
	})
	srv := tokenserver.New(o.Config, stsClient, s3Client, &http.Client{Timeout: o.Config.CKANTimeout + time.Second}, audit)
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(audit.Handler(), slog.LevelWarn),
	}
	audit.Info("listening", "address", ln.Addr().String(), "ckan", o.Config.CKANURL, "bucket", o.Config.Bucket,
		"enabled_orgs", strings.Join(o.Config.EnabledOrgs, ","), "duration", o.Config.Duration.String())
	if o.ready != nil {
		o.ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	audit.Info("shutting down")
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
