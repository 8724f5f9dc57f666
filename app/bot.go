package app

import (
	"context"
	"log/slog"

	"github.com/fmn-project/fmn/bot"
	"github.com/fmn-project/fmn/rulelog"
)

// chatBot is the bot the IRC and Matrix senders run on their connection
// (package bot), or nil when it cannot work: it needs FASJSON (who owns a
// nick), the rule projection (list) and the rule commands, which append
// the pause of stop and start as a delivery settings event.
func (p *process) chatBot(ctx context.Context, log *slog.Logger) (bot.Answerer, error) {
	dir := p.sys.Directory
	if dir == nil || p.cfg.FASJSONURL == "" {
		log.Info("the chat bot is off: it needs FASJSON (FMN_FASJSON_URL) to know who owns a nick")
		return nil, nil
	}
	cmds, err := rulelog.NewCommands(ctx, p.env.JS, p.env.DB, rulelog.CommandsConfig{Stream: p.cfg.Streams.Rules, Logger: log})
	if err != nil {
		return nil, err
	}
	p.env.OnClose(cmds.Close)
	return bot.New(bot.Config{
		Owners: dir, Rules: cmds.Store(), Pauser: cmds,
		PublicURL: p.cfg.PublicURL, Log: log.With("component", "bot"),
	})
}
