package app

import (
	"errors"
	"fmt"
	"slices"
)

var (
	// ErrStore wraps failures to write the stats store: samples were lost.
	ErrStore = errors.New("stats store error")
	// ErrTokens: token parameters could not be read from a file or
	// fetched from a URL, or are not for the identity that uses them.
	ErrTokens = errors.New("cannot get token parameters")
	// ErrConfig is what every ConfigError is: a value the application
	// cannot run with.
	ErrConfig = errors.New("invalid configuration")
)

// Setting names a configuration field (Config.ServerURL is
// SettingServerURL). A ConfigError names the settings at fault, so that a
// caller can show them under its own names: a command shows its flags.
type Setting string

// The settings Config.Validate and the load and demo configurations check.
const (
	SettingServerURL              Setting = "ServerURL"
	SettingStorePath              Setting = "StorePath"
	SettingRecordPath             Setting = "RecordPath"
	SettingDecode                 Setting = "Decode"
	SettingInterval               Setting = "Interval"
	SettingICEDisconnectedTimeout Setting = "ICEDisconnectedTimeout"
	SettingICEFailedTimeout       Setting = "ICEFailedTimeout"
	SettingReconnectDelay         Setting = "ReconnectDelay"
	SettingReconnectAttempts      Setting = "ReconnectAttempts"
	SettingICEServers             Setting = "ICEServers"
	SettingNetwork                Setting = "Network"
	SettingCalls                  Setting = "Calls"
	SettingConcurrency            Setting = "Concurrency"
	SettingRampPerSec             Setting = "RampPerSec"
	SettingDuration               Setting = "Duration"
)

// ConfigError is a configuration value the application cannot run with.
// Its message names the settings by their Config field; Render names them
// as the caller does.
type ConfigError struct {
	format string
	args   []any // a Setting argument is rendered under the caller's name
}

// ConfigErrorf makes a ConfigError; the Setting arguments of args are the
// settings at fault.
func ConfigErrorf(format string, args ...any) *ConfigError {
	return &ConfigError{format: format, args: args}
}

func (e *ConfigError) Error() string { return e.Render(nil) }

// Is makes every ConfigError match ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Settings are the settings the error is about, in the order named.
func (e *ConfigError) Settings() []Setting {
	var out []Setting
	for _, a := range e.args {
		if s, ok := a.(Setting); ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Render is the message with each setting shown as name returns it (nil:
// its field name).
func (e *ConfigError) Render(name func(Setting) string) string {
	args := slices.Clone(e.args)
	for i, a := range args {
		if s, ok := a.(Setting); ok {
			if name != nil {
				args[i] = name(s)
			} else {
				args[i] = string(s)
			}
		}
	}
	return fmt.Sprintf(e.format, args...)
}
