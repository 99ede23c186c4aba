using System.Diagnostics;
using System.Text.Json;
using OneDiff.Modeling.Distributed;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using OneDiff.Modeling.Tokenization;
using OneDiff.Modeling.Training;
using TorchSharp;
using static OneDiff.Bench.BenchArgs;

namespace OneDiff.Bench;

/// <summary>
/// A training step on the CPU in one process, or as one rank of <c>mpirun -np N</c> (the trainer's
/// own loop and collectives), with the LLM of the Tiny preset widened so that the step is not all
/// overhead; and, under mpirun, the gradient reduction alone at a bucket size. samples/OneDiff.Bench/
/// distributed.sh runs one process at twice the micro-batch and two ranks in the same call.
/// </summary>
static class DataParallelBenchmark
{
    public static int Run(string[] args)
    {
        int hidden = Arg(args, "--hidden", 512), layers = Arg(args, "--layers", 4), batch = Arg(args, "--batch", 8);
        int steps = Arg(args, "--steps", 6), warmup = Arg(args, "--warmup", 2);
        bool sharded = args.Contains("--sharded");
        var launch = LaunchEnvironment.Detect();
        // --device cuda: on the GPU (bf16; NCCL under the data-parallel machinery); --data-parallel:
        // the machinery also for one process (what the GPU check runs on one card).
        var resolved = OneDiff.Modeling.Runtime.DeviceSelector.Resolve(Arg(args, "--device") ?? "cpu");
        var device = resolved.IsCuda && launch.Size > 1 ? torch.device(DeviceType.CUDA, launch.LocalRank) : resolved.ToTorch();
        bool machinery = launch.Size > 1 || args.Contains("--data-parallel");
        var tiny = OneDiffConfig.Tiny;
        var config = tiny with
        {
            Llm = tiny.Llm with { HiddenSize = hidden, IntermediateSize = hidden * 11 / 4, NumHiddenLayers = layers, NumAttentionHeads = hidden / 64, NumKeyValueHeads = hidden / 64, HeadDim = 64 },
        };
        torch.manual_seed(0);
        using var model = OneDiffPretrained.Build(config, null, device, resolved.DefaultDtype);
        using var group = machinery ? ProcessGroup.Start(launch, device, TimeSpan.FromMinutes(10)) : null;
        int bucketMb = Arg(args, "--bucket-mb", group?.DefaultBucketMegabytes ?? 0);
        var parallel = group is null ? null : new DataParallel(group) { BucketBytes = (long)bucketMb << 20, ShardOptimizerState = sharded };

        // Random pairs with 24-token answers: the same examples whatever the rank count.
        var rng = new Random(1);
        var prompts = new PromptEncoder(TextTokenizer.Tiny(), ConversationTemplate.Plain);
        int side = config.Vision.ImageSize, examples = batch * launch.Size * (steps + warmup);
        float[] Image() => Enumerable.Range(0, 3 * side * side).Select(_ => (float)rng.NextDouble()).ToArray();
        var data = Enumerable.Range(0, examples).Select(_ => new TrainingExample(Image(), Image(),
            prompts.Encode("", string.Join(' ', Enumerable.Range(0, 12).Select(_ => "abcdefgh"[rng.Next(8)] + "x"))))).ToList();
        var settings = new StageSettings
        {
            Stage = TrainingStage.InstructionTuning, BatchSize = batch, MaxSteps = steps + warmup, WarmupFraction = 0, Seed = 1,
            LearningRates = new Dictionary<string, double> { ["projectors"] = 1e-4, ["delta_module"] = 1e-4, ["language_model"] = 1e-4 },
        };
        var times = new List<double>();
        var clock = Stopwatch.StartNew();
        new TrainingLoop(model, device, parallel).Run(data, settings, afterStep: step =>
        {
            if (step > warmup) times.Add(clock.Elapsed.TotalSeconds);
            else clock.Restart();
            return true;
        });
        double perStep = (times[^1] - 0) / times.Count;

        // The reduction alone: every trained parameter's gradient summed over the ranks, a few times.
        double? reduce = null;
        if (parallel is not null)
        {
            model.SetStage(TrainingStage.InstructionTuning);
            var trained = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();
            foreach (var (_, p) in trained) p.grad = torch.randn_like(p);
            parallel.ReduceGradients(trained, null);
            if (resolved.IsCuda) torch.cuda.synchronize();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 5; i++) parallel.ReduceGradients(trained, null);
            if (resolved.IsCuda) torch.cuda.synchronize();
            reduce = sw.Elapsed.TotalSeconds / 5;
        }
        if (launch.IsMain)
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                what = "ddp_step", device = resolved.Name, engine = group?.Engine, ranks = launch.Size, micro_batch = batch, global_batch = batch * launch.Size, llm_hidden = hidden, llm_layers = layers,
                trained_params = model.TrainableParameters().Sum(t => t.Parameter.numel()), bucket_mb = bucketMb, sharded,
                step_s = Math.Round(perStep, 4), samples_per_s = Math.Round(batch * launch.Size / perStep, 2),
                reduce_s = reduce is null ? (double?)null : Math.Round(reduce.Value, 4),
            }));
        return 0;
    }
}
