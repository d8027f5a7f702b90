//! Microsoft Teams against real Redis: activities signed as Bot Framework signs them, by a local issuer whose keys the tests control; the Bot Connector replaced by a stand-in.
