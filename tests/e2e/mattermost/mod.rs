//! Mattermost against real Redis: slash commands with their per-command token, button presses with the context Baton signed; the server API replaced by a stand-in.
