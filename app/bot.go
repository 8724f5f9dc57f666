package app

import (
	"log/slog"

	"github.com/fmn-project/fmn/bot"
	"github.com/fmn-project/fmn/delivery"
	"github.com/fmn-project/fmn/rulelog"
)

// chatBot is the bot the IRC and Matrix senders run on their connection
// (package bot), or nil when it cannot work: it needs FASJSON (who owns a
// nick), the rule projection (list) and the delivery settings (stop and
// start).
func (p *process) chatBot(pauser delivery.Pauser, log *slog.Logger) bot.Answerer {
	dir := p.sys.Directory
	switch {
	case dir == nil || p.cfg.FASJSONURL == "":
		log.Info("the chat bot is off: it needs FASJSON (FMN_FASJSON_URL) to know who owns a nick")
		return nil
	case p.env.DB == nil:
		log.Info("the chat bot is off: no PostgreSQL")
		return nil
	case pauser == nil:
		log.Info("the chat bot is off: no delivery settings to pause with")
		return nil
	}
	b, err := bot.New(bot.Config{
		Owners: dir, Rules: rulelog.NewStore(p.env.DB), Pauser: pauser,
		PublicURL: p.cfg.PublicURL, Log: log.With("component", "bot"),
	})
	if err != nil {
		log.Error("the chat bot is off", "err", err)
		return nil
	}
	return b
}
