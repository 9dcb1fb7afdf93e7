//! `GET /models`: the models of this deployment, and how images without a chosen model are routed.

use imgpipe_domain::ports::{Jobs, Objects};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

use crate::{response, Api, ApiError};

pub(crate) fn models<J: Jobs, O: Objects>(api: &Api<J, O>) -> Result<Response<Body>, ApiError> {
    let routing = &api.config.routing;
    let weight = |name: &str| {
        routing
            .weights()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, w)| *w)
            .unwrap_or(0)
    };
    let models: Vec<_> = api
        .config
        .models
        .iter()
        .map(|model| {
            json!({
                "name": model.name,
                "version": model.version,
                "variant": model.variant,
                "input": {"width": model.input.width, "height": model.input.height},
                "num_classes": model.num_classes,
                "default_weight": weight(&model.name),
            })
        })
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"models": models, "default": routing.describe()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{call, event, memory_api, Caller};

    #[tokio::test]
    async fn lists_the_deployed_models_and_the_default_split() {
        let api = memory_api();
        let (status, body) = call(&api, event("GET", "/models", "", None, &Caller::Jwt("alice"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let names: Vec<&str> = body["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["efficientnet-lite0", "tiny"]);
        assert_eq!(body["models"][0]["input"]["width"], 224);
        assert_eq!(body["models"][0]["num_classes"], 1000);
        assert_eq!(body["default"], "efficientnet-lite0=90,tiny=10");
        assert_eq!(body["models"][1]["default_weight"], 10);
    }
}
