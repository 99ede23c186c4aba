using System.Diagnostics;
using System.Text.Json;
using OneDiff.Modeling.Distributed;
using OneDiff.Modeling.Generation;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Modules;
using OneDiff.Modeling.Prompting;
using OneDiff.Modeling.Runtime;
using OneDiff.Modeling.Training;
using TorchSharp;
using static TorchSharp.torch;
using static OneDiff.Bench.BenchArgs;

namespace OneDiff.Bench;

/// <summary>
/// The GPU issue's benchmark, shaped like shared/gpu/reference/onediff_pytorch_reference.py: a
/// preset with random weights (Vicuna7B in bf16 on CUDA by default), a stage-II SFT step with the
/// reference's token layout (40 prefix + visual + 20 prompt + 24 answer tokens), and batched greedy
/// generation after the multimodal prefix; one JSON line per measurement, in the reference's keys.
/// </summary>
static class ModelBenchmark
{
    const int Prefix = 40, Prompt = 20, Answer = 24;

    public static int Run(string[] args)
    {
        string preset = Arg(args, "--preset") ?? "Vicuna7B";
        int batch = int.Parse(Arg(args, "--batch") ?? "8"), genBatch = int.Parse(Arg(args, "--gen-batch") ?? "16");
        int newTokens = int.Parse(Arg(args, "--new-tokens") ?? "32"), steps = int.Parse(Arg(args, "--steps") ?? "5");
        var resolved = DeviceSelector.Resolve(Arg(args, "--device") ?? "auto");
        var device = resolved.ToTorch();
        var config = OneDiffConfig.Preset(preset);
        if (Arg(args, "--layers") is { } layers) config = config with { Llm = config.Llm with { NumHiddenLayers = int.Parse(layers) } };

        var sw = Stopwatch.StartNew();
        torch.manual_seed(0);
        using var model = OneDiffPretrained.Build(config, null, device, resolved.DefaultDtype);
        long nLlm = model.language_model.parameters().Distinct().Sum(p => p.numel());
        long nVision = model.vision_tower.parameters().Sum(p => p.numel());
        long nDelta = model.delta_module.parameters().Sum(p => p.numel());
        using var memory = resolved.IsCuda ? new GpuMemoryWatcher(resolved.Index) : null;
        Print(new { what = "built", seconds = Math.Round(sw.Elapsed.TotalSeconds, 1), llm_params = nLlm, vision_params = nVision, vdm_params = nDelta, device = resolved.Name, dtype = resolved.DefaultDtype.ToString() });

        var rng = new Random(0);
        int vocab = config.Llm.VocabSize;
        int[] Ids(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(3, vocab)).ToArray();
        int side = config.Vision.ImageSize;
        Tensor Images(int n) => torch.randn([n, 3, side, side], dtype: resolved.DefaultDtype, device: device);

        bool checkpointing = args.Contains("--checkpointing");
        // --master-weights: bf16 weights updated through fp32 copies (the trainer's default; off
        // here by default to match the reference, whose AdamW updates the bf16 weights as they are).
        bool masterWeights = args.Contains("--master-weights");
        // --lora R: stage II as LoRA of rank R (alpha 2R, dropout 0.05, every projection: LLaVA-1.5's
        // LoRA settings at R = 128) instead of training the whole LLM.
        var lora = Arg(args, "--lora") is { } rank ? new LoraConfig { Rank = int.Parse(rank), Alpha = 2.0 * int.Parse(rank) } : null;
        // The defaults first, alone, so that their lines' peak memory is theirs. With
        // --compare-kernels, then the defaults, the other RMSNorm form and the other projection form,
        // taken in turn within every repetition, each rotation starting with the next one, so that
        // warm-up, drift and position fall on all alike (their peak memory is the whole run's).
        // --rms-norm, --projections and --decoding replace the library's defaults for the run (the
        // GPU check's fallback if a fused or scripted form fails on the card).
        (bool? Norm, bool Projections, bool Scripted) chosen = (
            Arg(args, "--rms-norm") switch { null => null, "fused" => true, "elementwise" => false, var v => throw new ArgumentException($"--rms-norm: '{v}' is neither fused nor elementwise") },
            Arg(args, "--projections") switch { null or "fused" => true, "separate" => false, var v => throw new ArgumentException($"--projections: '{v}' is neither fused nor separate") },
            Arg(args, "--decoding") switch { null or "scripted" => true, "layers" => false, var v => throw new ArgumentException($"--decoding: '{v}' is neither scripted nor layers") });
        bool cudaNorm = chosen.Norm ?? resolved.IsCuda;
        var defaults = new List<(bool? Norm, bool Projections, bool Scripted)> { chosen };
        var compared = new List<(bool? Norm, bool Projections, bool Scripted)> { chosen, (!cudaNorm, chosen.Projections, chosen.Scripted), (chosen.Norm, !chosen.Projections, chosen.Scripted), (chosen.Norm, chosen.Projections, !chosen.Scripted) };
        // --data-parallel: every step also with the data-parallel machinery of one rank (the launcher's
        // ranks if started by one): gradients summed through the group (NCCL on CUDA, MPI on the CPU)
        // in buckets, the loss summed, the ranks asked whether to stop; taken in turn with the plain step.
        using var group = args.Contains("--data-parallel") ? ProcessGroup.Start(LaunchEnvironment.Detect(), device, TimeSpan.FromMinutes(10)) : null;
        var parallel = group is null ? null : new DataParallel(group) { BucketBytes = (long)Arg(args, "--bucket-mb", group.DefaultBucketMegabytes) << 20 };
        if (group is not null) Print(new { what = "data_parallel", engine = group.Engine, ranks = group.Size, bucket_mb = parallel!.BucketBytes >> 20 });

        bool sft = !args.Contains("--skip-sft"), generate = !args.Contains("--skip-generate");
        if (sft) MeasureSft(defaults, "defaults");
        if (generate) MeasureGeneration(defaults, "defaults");
        if (args.Contains("--compare-kernels"))
        {
            // Training takes the separate projections and the layers whatever the choice: its variants are the norm's.
            if (sft) MeasureSft(compared.Take(2).ToList(), "comparison");
            if (generate) MeasureGeneration(compared, "comparison");
        }
        return 0;

        string Use((bool? Norm, bool Projections, bool Scripted) v)
        {
            (KernelChoices.FusedRmsNorm, KernelChoices.FusedProjections, KernelChoices.ScriptedDecoding) = v;
            return $"rms_norm {(v.Norm ?? resolved.IsCuda ? "fused" : "elementwise")}, projections {(v.Projections ? "fused" : "separate")}, decoding {(v.Scripted ? "scripted" : "layers")}";
        }

        void MeasureSft(List<(bool? Norm, bool Projections, bool Scripted)> kernelForms, string pass)
        {
            var forms = kernelForms.SelectMany(k => (parallel is null ? [false] : new[] { false, true }).Select(dp => (k.Norm, k.Projections, k.Scripted, DataParallel: dp))).ToList();
            if (lora is not null) model.language_model.model.AttachLora(lora);
            model.SetStage(TrainingStage.InstructionTuning);
            model.train();
            model.language_model.model.GradientCheckpointing = checkpointing;
            var named = model.named_parameters().GroupBy(p => p.parameter.Handle).ToDictionary(g => g.Key, g => g.First().name);
            var groups = model.TrainableParameters().GroupBy(t => t.Group)
                .Select(g => new AdamW.Group(g.Key, 2e-5, g.Select(t => (named[t.Parameter.Handle], t.Parameter)).ToList())).ToList();
            var trained = groups.SelectMany(g => g.Parameters).ToList();
            using var optimizer = new AdamW(groups) { MasterWeights = masterWeights };
            var times = forms.Select(_ => new List<double>()).ToList();
            var losses = new double[forms.Count];
            long seq = 0;
            for (int step = 0; step < steps + 2; step++)
                foreach (int f in Rotation(forms.Count, step))
                {
                    Use((forms[f].Norm, forms[f].Projections, forms[f].Scripted));
                    var prompts = Enumerable.Range(0, batch).Select(_ => new EncodedPrompt(Ids(Prefix), Ids(Prompt), Ids(Answer))).ToList();
                    Sync(resolved);
                    var t = Stopwatch.StartNew();
                    using (var scope = torch.NewDisposeScope())
                    {
                        if (lora is not null) model.language_model.model.SetLoraDropoutKey(step);
                        var visual = model.EncodePair(Images(batch), Images(batch));
                        seq = Prefix + visual.shape[1] + Prompt + Answer;
                        var l = model.Loss(visual, prompts);
                        l.backward();
                        if (forms[f].DataParallel)
                        {
                            // What TrainingLoop adds to a step in a job: the stop question, the sums.
                            parallel!.Group.Any(false);
                            parallel.ReduceGradients(trained, null);
                            using var total = l.detach().clone();
                            parallel.SumScalar(total);
                        }
                        optimizer.Update(1.0);
                        optimizer.ZeroGrad();
                        if (step == steps + 1) losses[f] = l.item<float>();
                    }
                    Sync(resolved);
                    if (step >= 2) times[f].Add(t.Elapsed.TotalSeconds);
                }
            long trainable = model.TrainableParameters().Sum(t => t.Parameter.numel());
            for (int f = 0; f < forms.Count; f++)
            {
                double s = Median(times[f]);
                long tokens = batch * seq;
                // Model FLOPs as the reference counts them (6 per LLM parameter and token): LoRA skips the
                // frozen weights' gradients (about a third of that) but the figure stays comparable.
                double flops = 6.0 * nLlm * tokens + 2.0 * nVision * 2 * batch * (config.Vision.NumPatches + 1);
                Print(new
                {
                    what = "sft_step", batch, seq, median_s = Math.Round(s, 4), samples_per_s = Math.Round(batch / s, 2), tokens_per_s = Math.Round(tokens / s),
                    model_tflops_per_s = Math.Round(flops / s / 1e12, 1), loss = Math.Round(losses[f], 4), peak_mem_gib = memory?.PeakGiB,
                    peak_rss_gib = PeakResidentGiB(), checkpointing, master_weights = masterWeights, lora_rank = lora?.Rank, trainable_params = trainable,
                    kernels = Use((forms[f].Norm, forms[f].Projections, forms[f].Scripted)), data_parallel = forms[f].DataParallel, pass,
                });
            }
            Use(chosen);
            model.language_model.model.GradientCheckpointing = false;
            if (lora is not null) model.language_model.model.MergeLora();
        }

        void MeasureGeneration(List<(bool? Norm, bool Projections, bool Scripted)> forms, string pass)
        {
            model.eval();
            using var noGrad = torch.no_grad();
            var times = forms.Select(_ => new List<double>()).ToList();
            var prefills = forms.Select(_ => new List<double>()).ToList();
            long prefixLength = 0;
            for (int rep = 0; rep < 3; rep++)
            {
                using var scope = torch.NewDisposeScope();
                var visual = model.EncodePair(Images(genBatch), Images(genBatch));
                var prompts = Enumerable.Range(0, genBatch).Select(_ => new EncodedPrompt(Ids(Prefix), Ids(Prompt), [])).ToList();
                prefixLength = Prefix + visual.shape[1] + Prompt;
                // No end token: every row writes all new tokens, as the reference's min_new_tokens does.
                double Timed(int tokens)
                {
                    Sync(resolved);
                    var t = Stopwatch.StartNew();
                    model.Generate(visual, prompts, new GenerationOptions { MaxNewTokens = tokens, PadTokenId = 0 });
                    Sync(resolved);
                    return t.Elapsed.TotalSeconds;
                }
                foreach (int f in Rotation(forms.Count, rep))
                {
                    Use(forms[f]);
                    times[f].Add(Timed(newTokens));
                    // The prefill and the first token alone: splits the time into prefill and per-token decoding.
                    prefills[f].Add(Timed(1));
                }
            }
            for (int f = 0; f < forms.Count; f++)
            {
                double s = Median(times[f]), prefill = Median(prefills[f]);
                Print(new
                {
                    what = "generate", batch = genBatch, prefix = prefixLength, new_tokens = newTokens, median_s = Math.Round(s, 4),
                    new_tokens_per_s = Math.Round(genBatch * newTokens / s), captions_per_s = Math.Round(genBatch / s, 2), peak_mem_gib = memory?.PeakGiB,
                    prefill_s = Math.Round(prefill, 4), decode_ms_per_token = newTokens > 1 ? Math.Round((s - prefill) / (newTokens - 1) * 1000, 2) : (double?)null,
                    kernels = Use(forms[f]), scripted_decoding = model.language_model.model.DecodesScripted, pass,
                });
            }
            Use(chosen);
        }
    }

    /// <summary>The process's peak resident memory (Linux VmHWM, "VmHWM:\t 7810000 kB", the tab alone
    /// from 10 GB up): the CPU runs' memory measure.</summary>
    static double? PeakResidentGiB()
    {
        if (!File.Exists("/proc/self/status")) return null;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? null : Math.Round(long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1]) / 1048576.0, 2);
    }

    static IEnumerable<int> Rotation(int count, int start) => Enumerable.Range(0, count).Select(k => (k + start) % count);

    static void Sync(ResolvedDevice d) { if (d.IsCuda) torch.cuda.synchronize(); }

    static double Median(List<double> xs) { var s = xs.Order().ToList(); return s[s.Count / 2]; }

    static void Print(object o) => Console.WriteLine(JsonSerializer.Serialize(o));

    /// <summary>TorchSharp exposes no allocator statistics: the peak of the GPU's used memory as
    /// nvidia-smi reports it (the caching allocator's reserve, so at least the allocated peak),
    /// sampled every 50 ms; null where nvidia-smi is missing.</summary>
    sealed class GpuMemoryWatcher : IDisposable
    {
        readonly CancellationTokenSource _stop = new();
        readonly Task _task;
        double _peakMiB = -1;

        public GpuMemoryWatcher(int index) => _task = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    using var p = Process.Start(new ProcessStartInfo("nvidia-smi", $"--query-gpu=memory.used --format=csv,noheader,nounits -i {index}") { RedirectStandardOutput = true });
                    if (p is null) return;
                    string text = await p.StandardOutput.ReadToEndAsync();
                    await p.WaitForExitAsync();
                    if (double.TryParse(text.Trim(), System.Globalization.CultureInfo.InvariantCulture, out var mib)) _peakMiB = Math.Max(_peakMiB, mib);
                }
                catch (System.ComponentModel.Win32Exception) { return; }
                await Task.Delay(50);
            }
        });

        public double? PeakGiB => _peakMiB < 0 ? null : Math.Round(_peakMiB / 1024, 1);

        public void Dispose() { _stop.Cancel(); try { _task.Wait(1000); } catch (AggregateException) { } }
    }
}
