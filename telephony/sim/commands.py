"""The synopses of ListCommands, as the recorded Asterisk lists them (08-listcommands)."""
# ruff: noqa: E501

from __future__ import annotations

__all__ = ["COMMANDS"]

COMMANDS: dict[str, tuple[str, str]] = {
    "atxfer": ("Atxfer", "Attended transfer.  (Priv: call,all)"),
    "bridgelist": ("BridgeList", "Get a list of bridges in the system.  (Priv: <none>)"),
    "challenge": ("Challenge", "Generate Challenge for MD5 Auth.  (Priv: <none>)"),
    "command": ("Command", "Execute Asterisk CLI Command.  (Priv: command,all)"),
    "coresettings": ("CoreSettings", "Show PBX core settings (version etc).  (Priv: system,reporting,all)"),
    "coreshowchannels": ("CoreShowChannels", "List currently active channels.  (Priv: system,reporting,all)"),
    "corestatus": ("CoreStatus", "Show PBX core status variables.  (Priv: system,reporting,all)"),
    "dbget": ("DBGet", "Get DB Entry.  (Priv: system,reporting,all)"),
    "dbput": ("DBPut", "Put DB entry.  (Priv: system,all)"),
    "events": ("Events", "Control Event Flow.  (Priv: <none>)"),
    "filter": ("Filter", "Dynamically add filters for the current manager session.  (Priv: system,all)"),
    "getvar": ("Getvar", "Gets a channel variable or function value.  (Priv: call,reporting,all)"),
    "hangup": ("Hangup", "Hangup channel.  (Priv: system,call,all)"),
    "listcommands": ("ListCommands", "List available manager commands.  (Priv: <none>)"),
    "login": ("Login", "Login Manager.  (Priv: <none>)"),
    "logoff": ("Logoff", "Logoff Manager.  (Priv: <none>)"),
    "mixmonitor": ("MixMonitor", "Record a call and mix the audio during the recording.  Use of StopMixMonitor is required to guarantee the audio file is available for processing during dialplan execution.  (Priv: system,all)"),
    "mixmonitormute": ("MixMonitorMute", "Mute / unMute a Mixmonitor recording.  (Priv: system,call,all)"),
    "originate": ("Originate", "Originate a call.  (Priv: originate,all)"),
    "ping": ("Ping", "Keepalive command.  (Priv: <none>)"),
    "playdtmf": ("PlayDTMF", "Play DTMF signal on a specific channel.  (Priv: call,all)"),
    "queueadd": ("QueueAdd", "Add interface to queue.  (Priv: agent,all)"),
    "queuelog": ("QueueLog", "Adds custom entry in queue_log.  (Priv: agent,all)"),
    "queuememberringinuse": ("QueueMemberRingInUse", "Set the ringinuse value for a queue member.  (Priv: agent,all)"),
    "queuepause": ("QueuePause", "Makes a queue member temporarily unavailable.  (Priv: agent,all)"),
    "queuepenalty": ("QueuePenalty", "Set the penalty for a queue member.  (Priv: agent,all)"),
    "queueremove": ("QueueRemove", "Remove interface from queue.  (Priv: agent,all)"),
    "queuerule": ("QueueRule", "Queue Rules.  (Priv: <none>)"),
    "queuestatus": ("QueueStatus", "Show queue status.  (Priv: <none>)"),
    "queuesummary": ("QueueSummary", "Show queue summary.  (Priv: <none>)"),
    "redirect": ("Redirect", "Redirect (transfer) a call.  (Priv: call,all)"),
    "setvar": ("Setvar", "Sets a channel variable or function value.  (Priv: call,all)"),
    "status": ("Status", "List channel status.  (Priv: system,call,reporting,all)"),
    "stopmixmonitor": ("StopMixMonitor", "Stop recording a call through MixMonitor, and free the recording's file handle.  (Priv: system,call,all)"),
    "userevent": ("UserEvent", "Send an arbitrary event.  (Priv: user,all)"),
    "waitevent": ("WaitEvent", "Wait for an event to occur.  (Priv: <none>)"),
}  # fmt: skip
