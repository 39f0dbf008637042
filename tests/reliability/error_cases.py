"""Every bad-input case tried against `fl-lightning federate`, `prune` and `pretrain`.

`test_bad_input.py` runs each case, checks its exit code (2), its message and that no output is
left behind, and keeps `docs/errors.md` (generated from these runs) in step with the code.
Arguments use placeholders: `TINY` (the tiny dataset), `M` (a folder of prepared files, see
`materials` in the test) and `OUT` (the command's output).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Command = Literal["federate", "prune", "pretrain"]
#: How OUT looks before the command: absent, a plain file, a folder holding a run's
#: checkpoint.pt, a copy of the finished reference run (4 rounds), that copy without its
#: checkpoint.pt or its config.yaml, with a corrupt config.yaml, with model.pt or a DAE
#: checkpoint in place of checkpoint.pt, or with a checkpoint.pt that runs code when unpickled
#: (it would create OUT/pwned); a finished pre-training (dae.ckpt, config.yaml); a folder
#: holding a stale automatic pre-training (pretrain/dae.ckpt of another hold-out); a folder
#: holding a file named wandb; a folder holding someone's label_distribution.png, notes.txt or
#: config.yaml; a folder whose lock file is a symbolic link to a file beside it, or a folder.
Prepare = Literal[
    "absent",
    "file",
    "checkpoint",
    "run",
    "run_without_checkpoint",
    "run_without_config",
    "run_corrupt_config",
    "model_as_checkpoint",
    "dae_as_checkpoint",
    "evil_checkpoint",
    "pretraining",
    "stale_pretraining",
    "wandb_file",
    "labels_png",
    "foreign_file",
    "foreign_config",
    "lock_symlink",
    "lock_folder",
]


@dataclass(frozen=True)
class ErrorCase:
    """One user mistake: the arguments that make it, and what the user must be told."""

    command: Command
    what: str
    args: tuple[str, ...]
    expected: str  # a part of the message (after placeholders); the docs show it whole
    prepare: Prepare = "absent"
    leaves_output: bool = False  # a known gap, listed in docs/errors.md; see `pretrain` below


def federate(
    what: str,
    *args: str,
    expected: str,
    prepare: Prepare = "absent",
    leaves_output: bool = False,
) -> ErrorCase:
    return ErrorCase("federate", what, args, expected, prepare, leaves_output)


def prune(what: str, *args: str, expected: str, prepare: Prepare = "absent") -> ErrorCase:
    return ErrorCase("prune", what, args, expected, prepare)


def pretrain(
    what: str,
    *args: str,
    expected: str,
    leaves_output: bool = False,
    prepare: Prepare = "absent",
) -> ErrorCase:
    return ErrorCase("pretrain", what, args, expected, prepare, leaves_output)


CASES: tuple[ErrorCase, ...] = (
    # -- federate: ranges ------------------------------------------------------------------
    federate("sparsity of 1", "--method", "proposed", "--sparsity", "1.0",
             expected="--sparsity=1.0 is out of range"),
    federate("negative sparsity", "--method", "proposed", "--sparsity", "-0.1",
             expected="--sparsity=-0.1 is out of range"),
    federate("no clients per round", "--federation.clients_per_round", "0",
             expected="federation.clients_per_round=0.0: allowed a count in [1, 10]"),
    federate("more clients per round than clients", "--federation.clients_per_round", "11",
             expected="federation.clients_per_round=11.0: allowed a count in [1, 10]"),
    federate("a count of clients per round that is not whole",
             "--federation.clients_per_round", "2.5",
             expected="federation.clients_per_round=2.5: a count above 1 must be a whole number"),
    federate("min_clients above the clients per round", "--federation.min_clients", "3",
             expected="federation.min_clients=3: allowed [1, 2]"),
    federate("zero rounds", "--rounds", "0", expected="--rounds=0 must be >= 1."),
    federate("evaluation never", "--federation.eval_every", "0",
             expected="federation.eval_every=0 must be >= 1."),
    federate("target accuracy above 1", "--federation.target_acc", "1.5",
             expected="federation.target_acc=1.5: allowed (0, 1]."),
    federate("negative retries", "--federation.max_retries", "-1",
             expected="federation.max_retries=-1 must be >= 0."),
    federate("update-norm bound not positive", "--federation.max_update_norm", "0",
             expected="federation.max_update_norm=0.0 must be > 0."),
    federate("fault probability of 1", "--federation.faults.probability", "1.0",
             expected="federation.faults.probability=1.0 is out of range; allowed: [0.0, 1.0)."),
    federate("unknown fault kind", "--federation.faults.kinds", "[explode]",
             expected="--federation.faults.kinds='[explode]': 'explode' is not known; choose "
             "one of: raise, empty, corrupt, nan."),
    federate("unknown payload dtype", "--federation.dtype", "float64",
             expected="--federation.dtype='float64' is not known (did you mean float"),
    federate("unknown upload codec", "--federation.up_codec", "int3",
             expected="--federation.up_codec='int3' is not known (did you mean int"),
    federate("a sign download (downloads carry weights)", "--federation.down_codec", "sign",
             expected="--federation.down_codec='sign' is not known; choose one of: float32, "
             "float16, int8, int4 or null."),
    federate("server error feedback on exact downloads",
             "--federation.down_error_feedback", "true",
             expected="federation.down_error_feedback=true needs a lossy download codec"),
    federate("stochastic rounding of sign uploads", "--federation.up_codec", "sign",
             "--federation.up_rounding", "stochastic",
             expected="federation.up_rounding='stochastic' with federation.up_codec='sign'"),
    federate("upload top-k fraction above 1", "--federation.up_topk", "1.5",
             expected="federation.up_topk=1.5: allowed (0, 1] or null (send all)."),
    federate("upload top-k fraction of 0", "--federation.up_topk", "0",
             expected="federation.up_topk=0.0: allowed (0, 1] or null (send all)."),
    federate("no local epochs", "--client.local_epochs", "0",
             expected="client.local_epochs=0 must be >= 1."),
    federate("empty batches", "--client.batch_size", "0",
             expected="client.batch_size=0 must be >= 1."),
    federate("time limit of 0 s", "--client.timeout", "0",
             expected="client.timeout=0.0 must be > 0 seconds"),
    federate("an accelerator this machine lacks", "--client.accelerator", "tpu",
             expected="client.accelerator='tpu' cannot be used on this machine"),
    federate("negative learning rate", "--model.lr", "-1", expected="model.lr=-1.0 must be > 0."),
    federate("momentum of 1", "--model.momentum", "1.0",
             expected="model.momentum=1.0 is out of range"),
    federate("negative seed", "--seed", "-1",
             expected="--seeds.split=-1 (or --seed) must be >= 0."),
    federate("seed above 2**32 - 1", "--seed", "4294967296",
             expected="--seeds.split=4294967296 (or --seed) must be <= 4294967295"),
    federate("seed in exponent notation", "--seed", "1e20",
             expected="--seed='1e20' is not valid; allowed: an integer."),
    federate("more CPU cores per Flower client than the machine has", "--engine", "flower",
             "--flower.num_cpus", "1000",
             expected="flower.num_cpus=1000.0 is more than this machine's"),
    # -- federate: config files --------------------------------------------------------------
    federate("config of random bytes", "--config", "M/random.yaml",
             expected="--config='M/random.yaml' is not a text file (not UTF-8)"),
    federate("empty config", "--config", "M/empty.yaml",
             expected="--config='M/empty.yaml' is empty; give a YAML mapping of options"),
    federate("config that is a YAML list", "--config", "M/list.yaml",
             expected="--config='M/list.yaml' holds a list, not a mapping of options"),
    federate("config that is not YAML", "--config", "M/broken.yaml",
             expected="--config='M/broken.yaml' is not valid YAML (line"),
    federate("misspelt key in a config", "--config", "M/typo.yaml",
             expected="unknown option federaton (did you mean federation?); allowed: checkpoint"),
    federate("misspelt key in a config group", "--config", "M/typo_group.yaml",
             expected="unknown option federation.rouds (did you mean federation.rounds?)"),
    federate("misspelt option", "--rouns", "3",
             expected="unknown option --rouns (did you mean --rounds?); allowed: --checkpoint, "
             "--client.*, --config, --data.*"),
    federate("misspelt option of a group", "--federation.rouds", "3",
             expected="unknown option --federation.rouds (did you mean --federation.rounds?); "
             "allowed in --federation: --federation.clients_per_round"),
    federate("an option without its value", "--config",
             expected="--config needs a value; allowed: a YAML file."),
    federate("missing config", "--config", "M/none.yaml",
             expected="--config='M/none.yaml': no such file."),
    federate("config that gives a key twice", "--config", "M/twice.yaml",
             expected="--config='M/twice.yaml': key method is given twice (lines 1 and 3); keep "
             "one (YAML would silently use the last)."),
    federate("pretrain_config that gives a key twice", "--method", "dae_dense",
             "--pretrain_config", "M/twice_pretrain.yaml",
             expected="--pretrain_config='M/twice_pretrain.yaml': key model.lr is given twice "
             "(lines 2 and 4)"),
    federate("a group given a number", "--config", "M/data_5.yaml",
             expected="`data: 5` is not allowed: data is a group of options"),
    federate("a group given a list", "--config", "M/federation_list.yaml",
             expected="`federation: [1, 2]` is not allowed"),
    federate("a group given null", "--config", "M/model_null.yaml",
             expected="`model: null` is not allowed"),
    federate("the seeds group given a number", "--config", "M/seeds_3.yaml",
             expected="`seeds: 3` is not allowed"),
    federate("a nested group given a number", "--config", "M/faults_number.yaml",
             expected="`federation.faults: 0.3` is not allowed"),
    federate("clients per round of NaN", "--config", "M/nan.yaml",
             expected="federation.clients_per_round=nan: allowed a count in [1, 10]"),
    federate("pretrain_config of random bytes", "--method", "dae_dense",
             "--pretrain_config", "M/random.yaml",
             expected="--pretrain_config='M/random.yaml' is not a text file"),
    federate("pretrain_config whose group is a number", "--method", "dae_dense",
             "--pretrain_config", "M/trainer_5.yaml",
             expected="--pretrain_config='M/trainer_5.yaml': `trainer: 5` is not allowed"),
    federate("pretrain_config with an unknown value", "--method", "dae_dense",
             "--data.server_images", "100", "--pretrain_config", "M/bad_noise.yaml",
             expected="--pretrain_config: the pre-training options are invalid: "
             "--config='M/bad_noise.yaml': model.noise='salt' is not known; choose one of: "
             "gaussian, masking."),
    # -- federate: data --------------------------------------------------------------------
    federate("more clients than examples", "--data.num_clients", "1000",
             expected="data.num_clients=1000 exceeds the 500 training examples left to clients"),
    federate("server keeps every example", "--data.server_images", "600",
             expected="data.server_images=600 leaves no training examples for the clients"),
    federate("client cap of 0", "--data.max_client_examples", "0",
             expected="data.max_client_examples=0 must be an integer >= 1."),
    federate("Dirichlet alpha of 0", "--data.alpha", "0",
             expected="data.alpha=0.0 must be > 0"),
    federate("unknown partition", "--data.partition", "by_size",
             expected="--data.partition='by_size' is not known; choose one of: iid, dirichlet, "
             "shards."),
    federate("unknown dataset", "--data.dataset", "imagenet",
             expected="data.dataset='imagenet' is not known; choose one of: cifar10, "
             "fashion_mnist, mnist, or module:object naming a DatasetInfo"),
    federate("dataset from a module that cannot be imported", "--data.dataset",
             "no_such_plugin:DATA",
             expected="data.dataset='no_such_plugin:DATA': cannot import module "
             "'no_such_plugin'"),
    federate("dataset reference to something else than a DatasetInfo", "--data.dataset",
             "fl_lightning.errors:UsageError",
             expected="points at a type, not a fl_lightning.data.DatasetInfo."),
    federate("data folder without the files", "--data.root", "M/empty",
             expected="--data.root='M/empty' does not hold the fashion_mnist files"),
    federate("truncated gzip data file", "--data.root", "M/truncated_gz",
             expected="cannot read M/truncated_gz/train-images-idx3-ubyte.gz"),
    federate("corrupt IDX data file", "--data.root", "M/corrupt_idx",
             expected="files from --data.root='M/corrupt_idx' could not be read"),
    # -- federate: method, model, checkpoint, ticket ---------------------------------------
    federate("unknown method", "--method", "magic",
             expected="--method='magic' is not known; choose one of: fedavg, dae_dense, proposed"),
    federate("misspelt method", "--method", "propsed",
             expected="--method='propsed' is not known (did you mean proposed?); choose one of: "
             "fedavg,"),
    federate("unknown model", "--model.model", "resnet",
             expected="model.model='resnet' is not known; choose one of: cnn, mlp, resnet8, "
             "or "
             "module:object naming a ModelSpec"),
    federate("model reference to a missing object", "--model.model",
             "fl_lightning.errors:NoSuchModel",
             expected="module 'fl_lightning.errors' has no attribute 'NoSuchModel'."),
    federate("structured method on a model without unit structure", "--method",
             "proposed_structured", "--model.model", "tests.reliability.plugin_model:NO_UNITS",
             expected="--method=proposed_structured needs a model with unit structure, and "
             "model 'tests.reliability.plugin_model:NO_UNITS' declares none"),
    federate("unknown engine", "--engine", "grpc",
             expected="--engine='grpc' is not known; choose one of: local, flower."),
    federate("missing checkpoint", "--method", "proposed", "--checkpoint", "M/none.ckpt",
             expected="--checkpoint='M/none.ckpt': no such file."),
    federate("checkpoint that is not a torch file", "--method", "proposed",
             "--checkpoint", "M/garbage.pt",
             expected="--checkpoint='M/garbage.pt' is not a readable checkpoint"),
    federate("ticket given as checkpoint", "--method", "proposed",
             "--checkpoint", "M/mlp_ticket.pt",
             expected="is not a DAE checkpoint written by `fl-lightning pretrain`"),
    federate("checkpoint of another model", "--method", "proposed", "--checkpoint", "M/cnn.ckpt",
             expected="--checkpoint was made for model 'cnn' on 'fashion_mnist', but this run "
             "uses model 'mlp'"),
    federate("missing ticket", "--method", "proposed", "--ticket", "M/none.pt",
             expected="--ticket='M/none.pt': no such file."),
    federate("ticket that is not a torch file", "--method", "proposed", "--ticket", "M/garbage.pt",
             expected="--ticket='M/garbage.pt' is not a readable ticket"),
    federate("checkpoint given as ticket", "--method", "proposed", "--ticket", "M/mlp.ckpt",
             expected="is not a ticket written by `fl-lightning prune`"),
    federate("ticket of another model", "--method", "proposed", "--ticket", "M/cnn_ticket.pt",
             expected="--ticket was made for model 'cnn' on 'fashion_mnist'"),
    federate("DAE pre-trained on client images", "--method", "proposed",
             "--checkpoint", "M/mlp_holdout512.ckpt",
             expected="its DAE saw 512 held-out images, but this run holds out only "
             "data.server_images=100: the other 412 are client images"),
    federate("DAE hold-out drawn with another split seed", "--method", "dae_dense", "--seed", "1",
             "--checkpoint", "M/mlp_holdout100.ckpt",
             expected="its DAE's held-out images were drawn with split_seed=0, but this run "
             "splits with data.split_seed=1"),
    # hand-edited or damaged tickets (`DAMAGED_TICKETS` in the test): refused when loaded
    federate("structured ticket whose widths disagree with its weights",
             "--method", "proposed_structured", "--ticket", "M/widths_off_ticket.pt",
             expected="is a damaged ticket: encoder_state['encoder.fc1.weight'] has shape "
             "(110, 784), model 'mlp' on 'fashion_mnist' at widths {'fc1': 109, 'fc2': 109} "
             "has (109, 784); write it again with `fl-lightning prune`."),
    federate("structured ticket with widths of 10^9",
             "--method", "proposed_structured", "--ticket", "M/huge_widths_ticket.pt",
             expected="is a damaged ticket: width fc1=1000000000 is not a whole number in "
             "[1, 200]"),
    federate("ticket with an extra encoder tensor", "--method", "proposed",
             "--ticket", "M/extra_tensor_ticket.pt",
             expected="is a damaged ticket: encoder_state holds 'encoder.extra.weight', which "
             "model 'mlp' on 'fashion_mnist' does not have"),
    federate("ticket with a NaN weight", "--method", "proposed", "--ticket", "M/nan_ticket.pt",
             expected="is a damaged ticket: encoder_state['encoder.fc2.weight'] holds 1 NaN or "
             "infinite values"),
    federate("ticket whose mask is a number", "--method", "proposed",
             "--ticket", "M/mask_5_ticket.pt",
             expected="is a damaged ticket: mask is of type int, not a mapping of name to "
             "tensor"),
    federate("ticket naming another model than its weights'", "--method", "proposed",
             "--model.model", "cnn", "--ticket", "M/model_cnn_ticket.pt",
             expected="is a damaged ticket: encoder_state holds 'encoder.fc1.bias', which "
             "model 'cnn' on 'fashion_mnist' does not have"),
    federate("ticket with a 5-class head for a 10-class dataset", "--method", "proposed",
             "--ticket", "M/head_5_ticket.pt",
             expected="is a damaged ticket: head_state['head.weight'] has shape (5, 200), "
             "model 'mlp' on 'fashion_mnist' has (10, 200)"),
    federate("ticket of an unknown format", "--method", "proposed",
             "--ticket", "M/format_99_ticket.pt",
             expected="is a damaged ticket: format 99, but this version reads format 1 only"),
    federate("ticket of a DAE pre-trained on client images", "--method", "proposed",
             "--ticket", "M/mlp_holdout512_ticket.pt",
             expected="its DAE saw 512 held-out images, but this run holds out only "
             "data.server_images=100"),
    federate("a sparsity that empties a layer", "--method", "proposed",
             "--checkpoint", "M/mlp_holdout100.ckpt", "--sparsity", "0.999999",
             expected="--sparsity=0.999999 prunes every weight of encoder."),
    federate("ticket for a dense method", "--ticket", "M/mlp_ticket.pt",
             expected="--ticket is for the pruned methods; --method=fedavg is dense."),
    federate("structured ticket for a masked method", "--method", "proposed",
             "--ticket", "M/mlp_channel_ticket.pt",
             expected="is a structured (channel) ticket; use --method proposed_structured"),
    federate("masked ticket for a structured method", "--method", "proposed_structured",
             "--ticket", "M/mlp_ticket.pt",
             expected="is an unstructured (masked) ticket; --method=proposed_structured needs "
             "one from `fl-lightning prune --structure channel`"),
    federate("structured start from a DAE pre-trained on client images",
             "--method", "proposed_structured", "--checkpoint", "M/mlp_holdout512.ckpt",
             expected="its DAE saw 512 held-out images, but this run holds out only "
             "data.server_images=100"),
    # -- federate: divergence (the run starts, so its first checkpoint is left) ------------
    *(
        federate(f"a learning rate that diverges, {codec} uploads", "--rounds", "1",
                 "--model.lr", "1e30", "--federation.max_retries", "1",
                 "--federation.up_codec", codec,
                 expected="every client update (4 in 2 attempts) was rejected as non-finite "
                 "(NaN or infinite weights): local training diverged; start again with a lower "
                 "model.lr (now 1e+30)", leaves_output=True)
        for codec in ("float16", "int8", "int4", "sign")
    ),
    # -- federate: output and resume -------------------------------------------------------
    federate("output is a file", expected="--output='OUT' exists and is not a folder",
             prepare="file"),
    federate("output below a file", "--output", "M/a_file/run",
             expected="--output='M/a_file/run' cannot be created: 'M/a_file' is a file."),
    federate("output where nothing can be created", "--output", "/proc/fl-lightning-run",
             expected="--output='/proc/fl-lightning-run' cannot be written: '/proc' refuses"),
    federate("output holds a run, no --resume",
             expected="already holds a federation run (checkpoint.pt): pass --resume",
             prepare="checkpoint"),
    federate("output given as an empty string", "--output", "",
             expected="--output='' names no folder"),
    federate("output holds a pre-training", expected="holds a pre-training (dae.ckpt)",
             prepare="pretraining"),
    federate("output holds a run whose checkpoint.pt is gone",
             expected="holds the results of an earlier run (metrics.csv, summary.json, "
             "config.yaml, model.pt, DONE.json) but no checkpoint.pt",
             prepare="run_without_checkpoint"),
    federate("output holds a stale automatic pre-training of another hold-out",
             "--method", "dae_dense", "--seed", "7",
             expected="pretrain/dae.ckpt was pre-trained for another run (dataset=None",
             prepare="stale_pretraining"),
    federate("output's wandb folder is a file", "--wandb.enabled", "true",
             expected="--output's wandb/ folder='OUT/wandb/run' cannot be created: 'OUT/wandb' "
             "is a file.", prepare="wandb_file"),
    federate("output holds someone's label_distribution.png",
             expected="--output='OUT' holds a label_distribution.png that no run of this folder "
             "wrote", prepare="labels_png"),
    federate("--resume on a folder of someone's files", "--resume", "true",
             expected="--resume: no checkpoint in 'OUT' (expected checkpoint.pt)",
             prepare="foreign_file"),
    federate("output's lock file is a symbolic link",
             expected="--output='OUT': its lock file 'OUT/.fl-lightning.lock' is a symbolic link",
             prepare="lock_symlink"),
    federate("output's lock file is a folder",
             expected="--output='OUT': its lock file 'OUT/.fl-lightning.lock' is a folder",
             prepare="lock_folder"),
    federate("--resume with other options, config.yaml gone", "--rounds", "4",
             "--model.lr", "0.1", "--federation.faults.probability", "0.3", "--resume", "true",
             expected="--resume: options differ from the run in 'OUT': model.lr=0.1 (was 0.05)",
             prepare="run_without_config"),
    federate("--resume from a corrupt config.yaml", "--config", "OUT/config.yaml",
             "--resume", "true", expected="--config='OUT/config.yaml' is not valid YAML",
             prepare="run_corrupt_config"),
    federate("--resume with a model.pt as checkpoint.pt", "--resume", "true",
             expected="OUT/checkpoint.pt is not a federation checkpoint (no round, "
             "global_state, sampler ...)", prepare="model_as_checkpoint"),
    federate("--resume with a DAE checkpoint as checkpoint.pt", "--resume", "true",
             expected="OUT/checkpoint.pt is not a federation checkpoint (no round",
             prepare="dae_as_checkpoint"),
    federate("--resume with a checkpoint.pt that runs code when loaded", "--resume", "true",
             expected="OUT/checkpoint.pt is not a readable federation checkpoint",
             prepare="evil_checkpoint"),
    federate("DAE checkpoint that runs code when loaded", "--method", "proposed",
             "--checkpoint", "M/evil.ckpt",
             expected="--checkpoint='M/evil.ckpt' is not a readable checkpoint"),
    federate("--resume without a checkpoint", "--resume", "true",
             expected="--resume: no checkpoint in 'OUT' (expected checkpoint.pt)"),
    federate("--resume with other options", "--rounds", "4", "--model.lr", "0.1",
             "--federation.faults.probability", "0.3", "--resume", "true",
             expected="--resume: options differ from the run in 'OUT': model.lr=0.1 (was 0.05)",
             prepare="run"),
    federate("--resume with fewer rounds than done", "--rounds", "3",
             "--federation.faults.probability", "0.3", "--resume", "true",
             expected="--resume: the checkpoint has finished 4 rounds, more than --rounds=3",
             prepare="run"),
    # -- prune ----------------------------------------------------------------------------
    prune("sparsity of 1", "--checkpoint", "M/mlp.ckpt", "--sparsity", "1",
          expected="--sparsity=1.0 is out of range; allowed: [0.0, 1.0)."),
    prune("missing --checkpoint", "--sparsity", "0.5",
          expected="missing --checkpoint (required); give it on the command line or in "
          "--config."),
    prune("misspelt option", "--checkpoint", "M/mlp.ckpt", "--sparsty", "0.5",
          expected="unknown option --sparsty (did you mean --sparsity?); allowed: --checkpoint, "
          "--config, --include_head, --output, --policy"),
    prune("config that gives a key twice", "--config", "M/twice.yaml",
          expected="--config='M/twice.yaml': key method is given twice (lines 1 and 3); keep one"),
    prune("missing checkpoint file", "--checkpoint", "M/none.ckpt", "--sparsity", "0.5",
          expected="--checkpoint='M/none.ckpt': no such file. Run `fl-lightning pretrain` first."),
    prune("checkpoint that is not a torch file", "--checkpoint", "M/garbage.pt",
          "--sparsity", "0.5", expected="--checkpoint='M/garbage.pt' is not a readable checkpoint"),
    prune("ticket given as checkpoint", "--checkpoint", "M/mlp_ticket.pt", "--sparsity", "0.5",
          expected="is not a DAE checkpoint written by `fl-lightning pretrain`."),
    prune("a sparsity that empties a layer", "--checkpoint", "M/mlp.ckpt", "--sparsity",
          "0.999999", expected="--sparsity=0.999999 prunes every weight of encoder."),
    prune("unknown scope", "--checkpoint", "M/mlp.ckpt", "--sparsity", "0.5", "--scope", "row",
          expected="--scope='row' is not known; choose one of: global, layer."),
    prune("unknown structure", "--checkpoint", "M/mlp.ckpt", "--sparsity", "0.5",
          "--structure", "filter",
          expected="--structure='filter' is not known; choose one of: unstructured, channel."),
    prune("channel structure with a pruned output layer", "--checkpoint", "M/mlp.ckpt",
          "--sparsity", "0.5", "--structure", "channel", "--include_head", "true",
          expected="--include_head=true: with --structure channel the output layer keeps every "
          "class"),
    prune("a sparsity whole channels cannot reach", "--checkpoint", "M/mlp.ckpt",
          "--sparsity", "0.999999", "--structure", "channel",
          expected="whole channels can keep 785 of 196,800 weights, not within 2% of the "
          "requested 0"),
    prune("unknown policy", "--checkpoint", "M/mlp.ckpt", "--sparsity", "0.5", "--policy", "best",
          expected="--policy='best' is not known; choose one of: pretrained, rewind_init, "
          "reinit."),
    prune("output named .json", "--checkpoint", "M/mlp.ckpt", "--sparsity", "0.5",
          "--output", "OUT/ticket.json", expected="the JSON report goes beside it"),
    prune("output is the checkpoint it prunes", "--checkpoint", "M/mlp.ckpt", "--sparsity", "0.5",
          "--output", "M/mlp.ckpt",
          expected="--output='M/mlp.ckpt' is --checkpoint='M/mlp.ckpt', the file it prunes"),
    prune("output is a file that is not a ticket", "--checkpoint", "M/mlp.ckpt", "--sparsity",
          "0.5", "--output", "M/a_file",
          expected="--output='M/a_file' exists and is not a ticket written by `fl-lightning "
          "prune`; it is not replaced"),
    prune("report beside the output would replace a run's summary.json", "--checkpoint",
          "M/mlp.ckpt", "--sparsity", "0.5", "--output", "OUT/summary.pt",
          expected="--output='OUT/summary.pt': its report 'OUT/summary.json' exists and is not "
          "one written by `fl-lightning prune`", prepare="run"),
    prune("output is a folder", "--checkpoint", "M/mlp.ckpt", "--sparsity", "0.5",
          "--output", "M/empty", expected="--output='M/empty': 'M/empty' is a directory."),
    prune("output below a file", "--checkpoint", "M/mlp.ckpt", "--sparsity", "0.5",
          "--output", "M/a_file/ticket.pt",
          expected="--output='M/a_file/ticket.pt': 'M/a_file' is a file, not a directory."),
    prune("output where nothing can be created", "--checkpoint", "M/mlp.ckpt", "--sparsity",
          "0.5", "--output", "/proc/fl-lightning/ticket.pt",
          expected="--output='/proc/fl-lightning/ticket.pt' cannot be written: '/proc' refuses"),
    # -- pretrain ---------------------------------------------------------------------------
    pretrain("unknown noise", "--model.noise", "salt",
             expected="--model.noise='salt' is not known; choose one of: gaussian, masking."),
    pretrain("misspelt trainer option", "--trainer.max_epocs", "2",
             expected="unknown option --trainer.max_epocs (did you mean --trainer.max_epochs?); "
             "allowed in --trainer: --trainer.accelerator, --trainer.accumulate_grad_batches"),
    pretrain("LightningCLI's optimizer option (the optimizer is model.optimizer)",
             "--optimizer", "torch.optim.SGD",
             expected="unknown option --optimizer (did you mean --model.optimizer?)"),
    pretrain("missing config", "--config", "M/none.yaml",
             expected="--config='M/none.yaml': no such file."),
    pretrain("config that gives a key twice", "--config", "M/twice.yaml",
             expected="--config='M/twice.yaml': key method is given twice (lines 1 and 3)"),
    pretrain("output is a file", "--output", "M/a_file",
             expected="--output='M/a_file' exists and is not a folder"),
    pretrain("unknown dataset", "--data.dataset", "imagenet",
             expected="dataset='imagenet' is not known"),
    pretrain("unknown model", "--model.model", "resnet",
             expected="model.model='resnet' is not known"),
    pretrain("validation fraction of 1", "--data.val_fraction", "1.0",
             expected="data.val_fraction=1.0 is out of range"),
    pretrain("more images than the dataset", "--data.num_images", "100000",
             expected="data.num_images=100000 is out of range"),
    pretrain("negative noise", "--model.noise_std", "-1",
             expected="model.noise_std=-1.0 must be >= 0."),
    pretrain("data folder without the files", "--data.root", "M/empty",
             expected="--data.root='M/empty' does not hold the fashion_mnist files",
             ),
    pretrain("output holds a finished pre-training",
             expected="--output='OUT' already holds a finished pre-training (dae.ckpt)",
             prepare="pretraining"),
    pretrain("output holds someone's config.yaml",
             expected="--output='OUT' holds a config.yaml that `fl-lightning pretrain` did not "
             "write", prepare="foreign_config"),
    pretrain("output given as an empty string", "--output", "",
             expected="--output='' names no folder"),
    pretrain("config of random bytes", "--config", "M/random.yaml",
             expected="--config='M/random.yaml' is not a text file (not UTF-8)"),
    pretrain("the trainer group given a number", "--config", "M/trainer_5.yaml",
             expected="`trainer: 5` is not allowed: trainer is a group of options"),
    pretrain("a W&B logger and a wandb folder that is a file",
             "--trainer.logger", "lightning.pytorch.loggers.WandbLogger",
             expected="--output's wandb/ folder='OUT/wandb/run' cannot be created: 'OUT/wandb' "
             "is a file.", prepare="wandb_file"),
    pretrain("a learning rate that diverges", "--model.lr", "1e6",
             expected="pre-training diverged: 8 weight tensors hold NaN or infinite values",
             leaves_output=True),
)  # fmt: skip
