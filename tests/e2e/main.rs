//! End-to-end tests against real `redis-server` processes the tests start themselves.
//! One test binary with a module per feature keeps link time low.

mod monitor;
mod served;
mod support;

mod admin;
mod approvals;
mod audit;
mod bad_input;
mod budget;
mod calendar;
mod ci_api;
mod ci_client;
mod claims;
mod cli;
mod clock;
mod concurrency;
mod discord;
mod doors;
mod edges;
mod expiry;
mod faults;
mod github;
mod health;
mod isolation;
mod locks;
mod logs;
mod mattermost;
mod notify;
mod openapi;
mod resilience;
mod round_trips;
mod set_queue;
mod sets;
mod slack;
mod slow_clients;
mod status_page;
mod sweeper;
mod teams;
mod tls;
mod topology;
mod web;
