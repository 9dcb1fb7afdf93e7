# The build artifacts, found through build/artifacts/manifest.json (written by `make package` and by Bazel):
#   lambda/<function>-<arch>.zip        api, preprocess, inference, sweeper, notify; arch x86_64 | arm64
#   layers/onnxruntime-<arch>.zip       lib/libonnxruntime.so.1
#   layers/model-<name>-<variant>.zip   model/{model.onnx|model.ort, labels.txt, model.json}
# A missing or stale file fails the plan with its path named (terraform_data.artifacts below).

locals {
  # The repository's build/artifacts, seen from an environment directory (terraform/envs/<name>).
  artifacts_dir = var.artifacts_dir != null ? var.artifacts_dir : "${path.root}/../../../build/artifacts"
  manifest_path = "${local.artifacts_dir}/manifest.json"

  # try(): an absent or unreadable manifest reads as an empty one, and the precondition below says which.
  manifest       = try(jsondecode(file(local.manifest_path)), { schema = 0, files = [] })
  manifest_files = { for entry in local.manifest.files : entry.path => entry }

  # The manifest's model layers by "<name>/<variant>".
  manifest_models = {
    for entry in local.manifest.files : "${entry.model.name}/${entry.model.variant}" => entry if entry.kind == "model_layer"
  }

  # Each function's zip for its architecture; the inference functions all run the one inference binary.
  function_packages = {
    for key, role in local.function_roles : key => "lambda/${role}-${local.function_architectures[key]}.zip"
  }

  # One ONNX Runtime layer per architecture a model runs on.
  ort_architectures = sort(distinct([for model in values(local.models) : model.architecture]))
  ort_layer_paths   = { for arch in local.ort_architectures : arch => "layers/onnxruntime-${arch}.zip" }

  # Each model's layer by name and variant (the manifest's path, or the layout's when the manifest lacks it).
  model_layer_paths = {
    for name, model in local.models : name => try(
      local.manifest_models["${name}/${model.variant}"].path,
      "layers/model-${name}-${model.variant}.zip",
    )
  }

  required_artifacts = sort(distinct(concat(
    values(local.function_packages),
    values(local.ort_layer_paths),
    values(local.model_layer_paths),
  )))
  unlisted_artifacts = [for path in local.required_artifacts : path if !contains(keys(local.manifest_files), path)]
  missing_artifacts  = [for path in local.required_artifacts : path if !fileexists("${local.artifacts_dir}/${path}")]
  stale_artifacts = [
    for path in local.required_artifacts : path
    if contains(keys(local.manifest_files), path) && fileexists("${local.artifacts_dir}/${path}") && try(filesha256("${local.artifacts_dir}/${path}") != local.manifest_files[path].sha256, true)
  ]

  # What the code needs to know of each deployed model, from its manifest entry (the model.json it was built
  # from): IMGPIPE_MODELS of the api, and of preprocess with each model's queue.
  model_descriptions = {
    for name, model in local.models : name => try(
      {
        name        = local.manifest_models["${name}/${model.variant}"].model.name
        version     = local.manifest_models["${name}/${model.variant}"].model.version
        variant     = local.manifest_models["${name}/${model.variant}"].model.variant
        num_classes = local.manifest_models["${name}/${model.variant}"].model.num_classes
        input = {
          height = local.manifest_models["${name}/${model.variant}"].model.input.height
          width  = local.manifest_models["${name}/${model.variant}"].model.input.width
        }
        preprocess = local.manifest_models["${name}/${model.variant}"].model.preprocess
      },
      # Only while the plan is about to fail on the missing model layer.
      { name = name, variant = model.variant },
    )
  }
  models_json = [for name in local.model_names : local.model_descriptions[name]]
  models_json_with_queues = [
    for name in local.model_names : merge(local.model_descriptions[name], { queue_url = module.queues.queue_urls["inference-${name}"] })
  ]
}

resource "terraform_data" "artifacts" {
  # A new manifest (a new build) is a change worth seeing in the plan.
  input = { for path in local.required_artifacts : path => try(local.manifest_files[path].sha256, null) }

  lifecycle {
    precondition {
      condition     = local.manifest.schema == 1
      error_message = "No readable manifest.json of schema 1 at ${local.manifest_path}: build the artifacts (make package writes build/artifacts) or point artifacts_dir at them."
    }

    precondition {
      condition     = length(local.unlisted_artifacts) == 0
      error_message = "${local.manifest_path} lists none of: ${join(", ", local.unlisted_artifacts)} (needed for the functions' architectures and the models' variants)."
    }

    precondition {
      condition     = length(local.missing_artifacts) == 0
      error_message = "Missing under ${local.artifacts_dir}: ${join(", ", local.missing_artifacts)}."
    }

    precondition {
      condition     = length(local.stale_artifacts) == 0
      error_message = "Not the files manifest.json describes (sha256 differs): ${join(", ", local.stale_artifacts)}. Rebuild with make package."
    }
  }
}

################################################################################
# Layers
################################################################################

resource "aws_lambda_layer_version" "onnxruntime" {
  for_each = local.ort_layer_paths

  layer_name               = "${local.name_prefix}-onnxruntime-${each.key}"
  description              = "ONNX Runtime shared library (lib/libonnxruntime.so.1), ${each.key}"
  filename                 = "${local.artifacts_dir}/${each.value}"
  source_code_hash         = fileexists("${local.artifacts_dir}/${each.value}") ? filebase64sha256("${local.artifacts_dir}/${each.value}") : null
  compatible_runtimes      = ["provided.al2023"]
  compatible_architectures = [each.key]
}

resource "aws_lambda_layer_version" "model" {
  for_each = local.models

  layer_name               = "${local.name_prefix}-model-${each.key}"
  description              = "Model ${each.key} (${each.value.variant}): model/{model file, labels.txt, model.json}"
  filename                 = "${local.artifacts_dir}/${local.model_layer_paths[each.key]}"
  source_code_hash         = fileexists("${local.artifacts_dir}/${local.model_layer_paths[each.key]}") ? filebase64sha256("${local.artifacts_dir}/${local.model_layer_paths[each.key]}") : null
  compatible_runtimes      = ["provided.al2023"]
  compatible_architectures = [each.value.architecture]
}
