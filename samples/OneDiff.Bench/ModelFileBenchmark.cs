using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Tokenization;
using TorchSharp;
using static OneDiff.Bench.BenchArgs;

namespace OneDiff.Bench;

/// <summary>
/// A model larger than 4 GB through <c>mlContext.Model.Save</c> and <c>Load</c>, as the 7B presets
/// are (14 GB of weights in bf16): the <c>Vicuna7B</c> preset on the CPU (fp32) with an LLM folder
/// of --layers Vicuna-width layers holding random weights and the Tiny tokenizer, fitted for one
/// step on procedural pairs, saved, loaded in the same process, and a pair captioned by both.
/// Prints sizes, times and the peak working set.
/// </summary>
static class ModelFileBenchmark
{
    public static int Run(string[] args)
    {
        int layers = Arg(args, "--layers", 3);
        string dir = Path.Combine(Path.GetTempPath(), $"onediff-bench-model-file-{layers}");
        Directory.CreateDirectory(dir);
        string llm = Path.Combine(dir, "llm");
        var clock = Stopwatch.StartNew();
        if (!File.Exists(Path.Combine(llm, "config.json"))) WriteLlmFolder(llm, LlamaConfig.Vicuna7B with { NumHiddenLayers = layers });
        string data = Path.Combine(dir, "data");
        if (!File.Exists(Path.Combine(data, "train.jsonl"))) ProceduralPairGenerator.Write(data, 4, seed: 1, imageSize: 64, testEvery: 0);
        double prepared = clock.Elapsed.TotalSeconds;

        var ml = new MLContext(seed: 1);
        var pairs = ml.DiffCaptioning().LoadDataset("diffcap", data, "train");
        var trainer = ml.DiffCaptioning().Trainers.OneDiff(new DiffCaptionTrainer.Options
        {
            Preset = "Vicuna7B", LlmFolder = llm, Device = "cpu", StageTwoSteps = 1, BatchSize = 1, MaxNewTokens = 4,
        });
        clock.Restart();
        using var model = trainer.Fit(pairs);
        double fit = clock.Elapsed.TotalSeconds;

        string file = Path.Combine(dir, "model.zip");
        clock.Restart();
        ml.Model.Save(model, pairs.Schema, file);
        double save = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var loaded = ml.Model.Load(file, out _);
        double load = clock.Elapsed.TotalSeconds;
        var one = ml.Data.TakeRows(pairs, 1);
        string here = model.Transform(one).GetColumn<string>("PredictedCaption").Single();
        string there = loaded.Transform(one).GetColumn<string>("PredictedCaption").Single();
        (loaded as IDisposable)?.Dispose();

        Console.WriteLine(JsonSerializer.Serialize(new
        {
            bench = "model-file", llm_layers = layers, file_gb = Math.Round(new FileInfo(file).Length / 1e9, 2),
            prepare_s = Math.Round(prepared, 1), fit_s = Math.Round(fit, 1), save_s = Math.Round(save, 1), load_s = Math.Round(load, 1),
            same_caption = here == there, peak_working_set_gib = Math.Round(Process.GetCurrentProcess().PeakWorkingSet64 / (double)(1L << 30), 2),
        }));
        File.Delete(file);
        return here == there ? 0 : 1;
    }

    /// <summary>A Hugging Face LLaMA folder: config.json, random weights in 2 GB shards, the Tiny tokenizer.</summary>
    static void WriteLlmFolder(string folder, LlamaConfig c)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), c.ToHfJson());
        torch.manual_seed(0);
        using (var model = new LlamaForCausalLM(c))
            SafetensorsWriter.SaveSharded(folder, model.state_dict(), 2_000_000_000);
        using var tokenizer = typeof(TextTokenizer).Assembly.GetManifestResourceStream("OneDiff.Modeling.Resources.tiny-tokenizer.model")!;
        using var target = File.Create(Path.Combine(folder, "tokenizer.model"));
        tokenizer.CopyTo(target);
    }
}
