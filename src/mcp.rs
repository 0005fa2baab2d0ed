//! `prgate mcp`: the agent tools of `crate::agent_tools` on MCP over stdio, through the
//! official Rust SDK (rmcp, major version pinned in Cargo.toml). This is the only module that
//! knows rmcp; the tools' input and output schemas are the command line's JSON shapes.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InitializeResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::agent_tools::AgentTools;
use crate::contract::{
    EXIT_USAGE, ErrorKind, ErrorOutput, ProposeInput, PullInput, WaitInput, schema_object,
};

/// The MCP server: the agent tools and nothing else.
pub struct PrgateMcp {
    tools: Arc<AgentTools>,
}

fn tool<I: schemars::JsonSchema, O: schemars::JsonSchema>(
    name: &'static str,
    description: &'static str,
) -> Tool {
    // None of the tools changes anything but the agent's own proposal branch and PR.
    let read_only = name != "propose_change";
    Tool::new(name, description, Arc::new(schema_object::<I>()))
        .with_raw_output_schema(Arc::new(schema_object::<O>()))
        .with_annotations(ToolAnnotations::new().read_only(read_only))
}

/// The tools on offer. Approving, merging and executing are not among them: an agent cannot
/// reach those through prgate.
fn tool_list() -> Vec<Tool> {
    use crate::proposal_status::ProposalStatus;
    use crate::propose::Proposal;
    vec![
        tool::<ProposeInput, Proposal>(
            "propose_change",
            "Commit the named paths of a working tree onto a proposal branch, push it and open (or update) its pull request, which a designated human must approve. Returns the PR, its head and the approvals each rule needs (as `prgate propose --json`).",
        ),
        tool::<PullInput, ProposalStatus>(
            "get_status",
            "Where a proposal stands: pending, approved, merged, executed, denied (with the reviewer's reason), expired, execution_failed or execution_refused (as `prgate status --json`).",
        ),
        tool::<WaitInput, ProposalStatus>(
            "wait_for_decision",
            "Wait, at most 10 minutes, until a proposal reaches `until` (approved, merged or executed) or is decided against; sends progress notifications while it waits. A timeout answers `timed_out: true` with the state then: time never approves (as `prgate wait --json`).",
        ),
        tool::<PullInput, ProposalStatus>(
            "explain_decision",
            "Why a proposal stands where it does: what is missing (`decision`), which rules need whose approval (`rules`), and for each approval whether it counts and, if not, why (`approvals[].why_not`), in the gate's own words.",
        ),
    ]
}

impl PrgateMcp {
    pub fn new(tools: AgentTools) -> Self {
        PrgateMcp {
            tools: Arc::new(tools),
        }
    }

    /// Runs the server on stdin/stdout until the client closes it.
    pub async fn serve_stdio(self) -> Result<(), String> {
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| format!("MCP session did not start: {e}"))?;
        running
            .waiting()
            .await
            .map(|_| ())
            .map_err(|e| format!("MCP session ended with an error: {e}"))
    }
}

fn answer<T: Serialize>(result: Result<T, ErrorOutput>) -> CallToolResult {
    match result.map(|v| serde_json::to_value(v)) {
        Ok(Ok(v)) => CallToolResult::structured(v),
        Ok(Err(e)) => error_result(ErrorOutput::new(
            ErrorKind::Internal,
            format!("cannot write the answer as JSON: {e}"),
            1,
        )),
        Err(e) => error_result(e),
    }
}

/// A failure the agent reads: the same error object as the command line's.
fn error_result(e: ErrorOutput) -> CallToolResult {
    CallToolResult::structured_error(serde_json::to_value(&e).unwrap_or_default())
}

fn input<T: DeserializeOwned>(
    args: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<T, ErrorOutput> {
    serde_json::from_value(serde_json::Value::Object(args.unwrap_or_default())).map_err(|e| {
        ErrorOutput::new(
            ErrorKind::Usage,
            format!("invalid arguments: {e}"),
            EXIT_USAGE,
        )
        .with_hint("see the tool's input schema")
    })
}

/// `propose` holds git2 handles (not `Send`) across its awaits, and rmcp wants a `Send`
/// future: it runs on a blocking thread that drives it on this runtime.
async fn propose_off_thread(
    tools: Arc<AgentTools>,
    input: ProposeInput,
) -> Result<crate::propose::Proposal, ErrorOutput> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(tools.propose_change(input)))
        .await
        .unwrap_or_else(|e| {
            Err(ErrorOutput::new(
                ErrorKind::Internal,
                format!("propose did not finish: {e}"),
                1,
            ))
        })
}

impl ServerHandler for PrgateMcp {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("prgate", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "prgate: propose changes as pull requests that a designated human must approve; \
                 read their status, wait for the decision and have it explained. \
                 Nothing here approves, merges or executes.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tool_list()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tool_list().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tools = &self.tools;
        let result = match request.name.as_ref() {
            "propose_change" => match input::<ProposeInput>(request.arguments) {
                Ok(i) => answer(propose_off_thread(tools.clone(), i).await),
                Err(e) => error_result(e),
            },
            "get_status" | "explain_decision" => match input::<PullInput>(request.arguments) {
                Ok(i) => answer(tools.get_status(i).await),
                Err(e) => error_result(e),
            },
            "wait_for_decision" => match input::<WaitInput>(request.arguments) {
                Ok(i) => {
                    let token = context.meta.get_progress_token();
                    let peer = context.peer.clone();
                    let mut step = 0u32;
                    answer(
                        tools
                            .wait_for_decision(i, |state, waited| {
                                step += 1;
                                let note = token.clone().map(|t| {
                                    let state = serde_json::to_value(state)
                                        .ok()
                                        .and_then(|v| v.as_str().map(str::to_string))
                                        .unwrap_or_default();
                                    ProgressNotificationParam::new(t, f64::from(step))
                                        .with_message(format!(
                                            "{state} after {}s",
                                            waited.as_secs()
                                        ))
                                });
                                let peer = peer.clone();
                                async move {
                                    if let Some(n) = note
                                        && let Err(e) = peer.notify_progress(n).await
                                    {
                                        tracing::debug!(error = %e, "progress notification not sent");
                                    }
                                }
                            })
                            .await,
                    )
                }
                Err(e) => error_result(e),
            },
            // An unknown tool is the client's mistake, answered as the protocol says.
            _ => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "no tool {:?}; prgate offers propose_change, get_status, wait_for_decision and explain_decision",
                        request.name
                    ),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}
