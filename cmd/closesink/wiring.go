package main

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/closesink/closesink/delivery"
	"github.com/closesink/closesink/pkg/config"
	"github.com/closesink/closesink/pkg/metrics"
	"github.com/closesink/closesink/pkg/version"
	"github.com/closesink/closesink/transform"
)

// newLogger builds the process logger: JSON by default, console on a terminal.
func newLogger(level, format string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("%w: log-level: %v", config.ErrInvalid, err)
	}
	if format == "auto" {
		format = "json"
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "console"
		}
	}
	var zc zap.Config
	if format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		zc.Development = false
	} else {
		zc = zap.NewProductionConfig()
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		zc.Sampling = nil // every outcome line matters; volume is bounded by the rate limit
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths, zc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	zc.DisableStacktrace = true
	return zc.Build()
}

func newTransformer(cfg config.Config) (*transform.Transformer, error) {
	t, err := transform.New(transform.Config{
		Events:          cfg.Mapping.Events,
		ConsentCategory: cfg.ConsentCategory,
		PhoneRegion:     cfg.PhoneRegion,
		LeadStatusID:    cfg.LeadStatusID,
		CustomFields:    cfg.Mapping.CustomFields,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", config.ErrInvalid, err)
	}
	return t, nil
}

func newDeliveryClient(cfg config.Config, m *metrics.Metrics) (*delivery.Client, error) {
	c, err := delivery.New(delivery.Config{
		BaseURL:          cfg.CloseURL,
		APIKey:           delivery.Secret(cfg.APIKey),
		Version:          version.Version,
		RequestTimeout:   cfg.RequestTimeout,
		Rate:             cfg.Rate,
		Burst:            cfg.Burst,
		MaxRetryDuration: cfg.MaxRetryDuration,
		OnAttempt:        func(a delivery.Attempt) { m.Request(a.HTTPStatus) },
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", config.ErrInvalid, err)
	}
	return c, nil
}
