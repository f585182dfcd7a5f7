"""Offline checks of template.yaml: cfn-lint, then the SAM translator's output, asserted on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
from support.template import ROOT, TEMPLATE, dashboard_metrics

from gateway.catalog.model_map import ModelMap
from gateway.telemetry import METRICS, SERVICE

STREAM_URI = "lambda:path/2021-11-15/functions/${MessagesFunction.Arn}/response-streaming-invocations"


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs only when a template names one; this one does not."""

    def load(self) -> dict:
        return {}


@pytest.fixture(scope="module")
def source() -> dict:
    return yaml_parse(TEMPLATE.read_text())


@pytest.fixture(scope="module")
def translated(source, monkeypatch_module) -> dict:
    template = json.loads(json.dumps(source))
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = f"s3://artifacts/{name}.zip"  # sam package does this swap
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://artifacts/layer.zip"
    return transform(template, {"Stage": "dev"}, _NoManagedPolicies())["Resources"]


@pytest.fixture(scope="module")
def monkeypatch_module():
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield patch
    patch.undo()


def _operations(translated: dict) -> dict[tuple[str, str], dict]:
    body = translated["Api"]["Properties"]["Body"]
    return {(path, method): op for path, ops in body["paths"].items() for method, op in ops.items()}


def test_cfn_lint_passes():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(TEMPLATE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_route_goes_through_the_key_authorizer_and_a_usage_plan(translated):
    ops = _operations(translated)
    assert set(ops) == {
        ("/v1/messages", "post"),
        ("/v1/messages/count_tokens", "post"),
        ("/v1/models", "get"),
        ("/v1/models/{model_id}", "get"),
    }
    for key, op in ops.items():
        # The authorizer decides; ApiKeyRequired makes the usage plan meter the key it returns.
        assert op.get("security") == [{"KeyAuthorizer": []}, {"api_key": []}], key
    api = translated["Api"]["Properties"]
    assert api["ApiKeySourceType"] == "AUTHORIZER"
    authorizer = api["Body"]["securityDefinitions"]["KeyAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert "${__FunctionArn__}" in authorizer["authorizerUri"]["Fn::Sub"][0]
    assert authorizer["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    # No identity source and no API Gateway cache: a request with only x-api-key, or only a Bearer token,
    # must reach the authorizer (an identity source on one header refuses the other before it runs).
    assert "identitySource" not in authorizer and authorizer["authorizerResultTtlInSeconds"] == 0
    # No shared key any more: every developer has their own (python -m gateway.keys create).
    assert not {"ApiApiKey", "ApiUsagePlan", "ApiUsagePlanKey"} & set(translated)
    plan = translated["DeveloperUsagePlan"]["Properties"]
    assert plan["ApiStages"] == [{"ApiId": {"Ref": "Api"}, "Stage": {"Ref": "ApiStage"}}]
    assert {"RateLimit", "BurstLimit"} <= set(plan["Throttle"])


def test_the_authorizer_can_only_read_the_keys_table(translated):
    statements = [s for role, s in _statements(translated) if role == "AuthorizerFunctionRole"]
    assert statements == [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["KeysTable", "Arn"]}}
    ]
    env = translated["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["KEYS_TABLE"] == {"Ref": "KeysTable"} and env["KEY_CACHE_SECONDS"] == {"Ref": "KeyCacheSeconds"}


def test_only_the_messages_function_counts_usage_and_only_usage_items(translated):
    for role in ("CountTokensFunctionRole", "ModelsFunctionRole"):
        assert "KeysTable" not in json.dumps([s for r, s in _statements(translated) if r == role]), role
    keys = [s for r, s in _statements(translated) if r == "MessagesFunctionRole" and "KeysTable" in json.dumps(s)]
    assert len(keys) == 1
    assert sorted(keys[0]["Action"]) == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert keys[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["usage#*"]}}


def test_messages_really_streams_and_the_rest_is_buffered(translated):
    ops = _operations(translated)
    messages = ops[("/v1/messages", "post")]["x-amazon-apigateway-integration"]
    assert messages["responseTransferMode"] == "STREAM"
    assert STREAM_URI in messages["uri"]["Fn::Sub"]
    assert messages["timeoutInMillis"] == 900000
    for key in [k for k in ops if k != ("/v1/messages", "post")]:
        integration = ops[key]["x-amazon-apigateway-integration"]
        assert integration.get("responseTransferMode") in (None, "BUFFERED"), key
        assert "/2015-03-31/functions/" in integration["uri"]["Fn::Sub"], key


def test_messages_function_runs_under_the_lambda_web_adapter(translated):
    props = translated["MessagesFunction"]["Properties"]
    env = props["Environment"]["Variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/health"
    assert props["Handler"] == "run.sh"
    assert any("LambdaAdapterLayer" in json.dumps(layer) for layer in props["Layers"])
    run_sh = ROOT / "functions" / "messages" / "run.sh"
    assert run_sh.stat().st_mode & 0o111, "run.sh must be executable"
    assert b"\r\n" not in run_sh.read_bytes()


def test_each_function_has_the_shared_layer(translated):
    layer = next(name for name in translated if name.startswith("SharedLayer"))
    functions = [n for n, r in translated.items() if r["Type"] == "AWS::Lambda::Function"]
    assert sorted(functions) == ["AuthorizerFunction", "CountTokensFunction", "MessagesFunction", "ModelsFunction"]
    for name in functions:
        assert {"Ref": layer} in translated[name]["Properties"]["Layers"], name


def _statements(translated: dict):
    for name, resource in translated.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement


def test_no_policy_grants_star_on_resources(translated):
    found = list(_statements(translated))
    assert found, "expected inline policies"
    for role, statement in found:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            assert resource != "*" and not (isinstance(resource, str) and resource.endswith(":*")), (role, statement)
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a.endswith("*") for a in actions), (role, statement)


def test_policies_reach_only_the_three_resources(translated):
    text = json.dumps([s for _, s in _statements(translated)])
    referenced = set(re.findall(r'"(?:Ref|Fn::GetAtt)": \["?(\w+)', text)) | set(re.findall(r"\$\{(\w+)\}", text))
    named = {r for r in referenced if r in translated}
    assert named <= {"ModelMapParameter", "VerificationTable", "SalesforceSecret", "KeysTable"}, named


def test_count_tokens_cannot_read_the_salesforce_secret(translated):
    text = json.dumps([s for role, s in _statements(translated) if role == "CountTokensFunctionRole"])
    assert "SalesforceSecret" not in text and "dynamodb" not in text


def test_model_map_parameter_starts_as_the_packaged_default(source):
    value = source["Resources"]["ModelMapParameter"]["Properties"]["Value"]
    assert ModelMap.from_json(value) == ModelMap.default()
    assert len(value) <= 4096, "a Standard SSM parameter holds 4 KB"


def test_every_resource_name_carries_the_stage(source):
    named = {
        "ModelMapParameter": "Name",
        "VerificationTable": "TableName",
        "KeysTable": "TableName",
        "DeveloperUsagePlan": "UsagePlanName",
        "SalesforceSecret": "Name",
        "Dashboard": "DashboardName",
        "Api": "Name",
        "SharedLayer": "LayerName",
        "Api5xxAlarm": "AlarmName",
        "BackendErrorRateAlarm": "AlarmName",
    }
    for resource, prop in named.items():
        assert "${Stage}" in json.dumps(source["Resources"][resource]["Properties"][prop]), resource


def test_dashboard_reads_only_metrics_the_code_defines(source):
    read = dashboard_metrics(source)
    assert {name for name, _ in read} == set(METRICS), "every metric should be on the dashboard, and no other"
    for name, dims in read:
        assert dims == {"service", *METRICS[name][1]}, name
    assert SERVICE in source["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]


def test_api_gateway_own_errors_use_the_anthropic_envelope(source):
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in source["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::GatewayResponse"
    }
    assert {"INVALID_API_KEY", "THROTTLED", "QUOTA_EXCEEDED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    assert responses["INVALID_API_KEY"]["StatusCode"] == "401"
    # The authorizer's refusals: "Unauthorized" -> 401, a Deny -> 403, its own failure -> 500.
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR"} <= set(responses)
    assert responses["UNAUTHORIZED"]["StatusCode"] == "401"
    for kind in ("UNAUTHORIZED", "ACCESS_DENIED", "INVALID_API_KEY", "QUOTA_EXCEEDED"):
        assert responses[kind]["ResponseParameters"] == {"gatewayresponse.header.x-should-retry": "'false'"}, kind
    for kind, props in responses.items():
        template = props["ResponseTemplates"]["application/json"]
        # What API Gateway substitutes: messageString is already a quoted JSON string.
        rendered = template.replace("$context.error.messageString", '"Too Many Requests"').replace(
            "$context.requestId", "4f1d-example"
        )
        body = json.loads(rendered)
        assert body["type"] == "error" and body["request_id"] == "4f1d-example", kind
        assert body["error"]["type"] in {
            "authentication_error",
            "not_found_error",
            "rate_limit_error",
            "permission_error",
            "request_too_large",
            "timeout_error",
            "invalid_request_error",
            "api_error",
        }, kind


def test_the_api_is_regional_so_idle_connections_last_five_minutes(translated):
    """Edge-optimized endpoints cut a connection after 30 s without bytes: a long non-streaming answer."""
    api = next(r for r in translated.values() if r["Type"] == "AWS::ApiGateway::RestApi")
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
