// Package tokencmd implements "callstat token": mint token sets for
// token-based anonymous calls, once or as a small HTTP token server.
package tokencmd

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/callstat/callstat/cmd/callstat/internal/cmdutil"
	"github.com/callstat/callstat/pkg/signaling/token"
)

// MintFlags say what to mint a set for; "token" and "token serve" share
// them.
type MintFlags struct {
	cmdutil.KeyFlags
	Account   string
	Caller    string
	Callee    string
	Timestamp int64
	IV        string
}

func addMintFlags(cmd *cobra.Command, f *cmdutil.Factory, o *MintFlags) {
	cmdutil.AddKeyFlags(cmd, f, &o.KeyFlags)
	fl := cmd.Flags()
	fl.StringVar(&o.Account, "account", "", "account the call is made under, user@domain (accountToken)")
	fl.StringVar(&o.Caller, "caller", "", `caller id (fromToken); default "sip:" + --account`)
	fl.StringVar(&o.Callee, "callee", "", "callee id (toToken), e.g. sip:alice@example.com")
	fl.Int64Var(&o.Timestamp, "timestamp", 0, "mint with this Unix-ms timestamp instead of now (test vectors)")
	fl.StringVar(&o.IV, "iv", "", "16-character [A-Za-z0-9] IV for 32-character keys instead of a random one (test vectors)")
}

// validate loads the key and checks the ids.
func (o *MintFlags) validate(f *cmdutil.Factory) error {
	if _, err := o.Load(f, true); err != nil {
		return err
	}
	o.Account, o.Callee = strings.TrimSpace(o.Account), strings.TrimSpace(o.Callee)
	switch {
	case o.Account == "":
		return cmdutil.FlagErrorf("--account is required: the account the call is made under, e.g. --account bob@example.com")
	case o.Callee == "":
		return cmdutil.FlagErrorf("--callee is required, e.g. --callee sip:alice@example.com")
	case o.Timestamp < 0:
		return cmdutil.FlagErrorf("--timestamp must be a positive Unix-ms time")
	case o.IV != "" && !o.Key.UsesIV():
		return cmdutil.FlagErrorf("--iv applies to 32-character keys only; this key has 16")
	}
	if o.Caller = strings.TrimSpace(o.Caller); o.Caller == "" {
		o.Caller = "sip:" + o.Account
	}
	if o.IV != "" {
		// Mint checks the IV; try it now so a bad one is a usage error.
		if _, err := o.Key.Mint("x", 1, o.IV); err != nil {
			return cmdutil.FlagErrorf("invalid --iv: %v", err)
		}
	}
	return nil
}

func (o *MintFlags) mint(now func() time.Time) (token.Params, error) {
	return token.Generate(o.Key, token.Request{Realm: o.Realm, Account: o.Account, Caller: o.Caller, Callee: o.Callee,
		Timestamp: o.Timestamp, IV: o.IV, Now: now})
}

// Options are token's flags and dependencies.
type Options struct {
	Factory *cmdutil.Factory
	MintFlags
}

// NewCmdToken builds the command; runF replaces the run function in tests.
func NewCmdToken(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "token --realm <realm> --key-file <file> --account <user@domain> --callee <id>",
		Short: "Mint a token set for a token-based anonymous call",
		Long: `Mint accountToken, fromToken and toToken with one timestamp, exactly as the SDK's
sample token server does, and print them as the JSON that its GET /callparameters
answers: {"realm","accountToken","fromToken","toToken","caller","callee"}.
"callstat call --token-file" and "callstat answer --token-file" read it.

The realm's key is read from --key-file or $CALLSTAT_TOKEN_KEY, never from a
flag value. A 16-character key gives AES-128-ECB tokens, a 32-character key
AES-256-CBC tokens with an HMAC-SHA256 signature (docs/protocol.md).`,
		Example: `  callstat token --realm example-realm --key-file realm.key \
      --account bob@example.com --callee sip:alice@example.com > params.json
  callstat call --token-file params.json --duration 10s
  callstat token serve --listen 127.0.0.1:3000 --realm example-realm --key-file realm.key \
      --account bob@example.com --callee sip:alice@example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.validate(f); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return tokenRun(cmd.Context(), opts)
		},
	}
	addMintFlags(cmd, f, &opts.MintFlags)
	cmd.AddCommand(NewCmdServe(f, nil))
	return cmd
}

// tokenRun prints one token set.
func tokenRun(_ context.Context, opts *Options) error {
	p, err := opts.mint(opts.Factory.Now)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(opts.Factory.IO.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}
