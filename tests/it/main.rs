//! The integration tests, one binary: a module per story group, and the shared harness
//! (`common`, `sim_support`, `executor_support`) as modules. One binary links the crate
//! once instead of once per file.

mod common;
mod executor_support;
mod sim_support;

mod agent_loop;
mod audit_history;
mod chaos;
mod cli_help;
mod cli_props;
mod demo;
mod executor_env;
mod executor_equivalence;
mod executor_flow;
mod executor_hardening;
mod executor_note;
mod executor_redact;
mod executor_restart;
mod executor_run;
mod executor_worktree;
mod executor_writers;
mod gate_api_calls;
mod gate_app_auth;
mod gate_approvals;
mod gate_attacks;
mod gate_bypasses;
mod gate_replicas;
mod gate_restart;
mod gate_runtime;
mod informed_review;
mod input_robustness;
mod isolation;
mod json_contract;
mod mcp_server;
mod observability;
mod operator_config;
mod pages;
mod policy_check_cli;
mod policy_engine;
mod policy_parse;
mod policy_props;
mod propose_links;
mod readme_walkthrough;
mod records_v2;
mod render_snapshots;
mod sim_api;
mod sim_flow;
mod sim_git_http;
mod sim_graphql;
mod sim_openapi;
mod sim_quirks;
mod verify_record;
mod webhook_flood;
mod webhook_http;
mod webhook_queue;
