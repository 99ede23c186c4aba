using System.Diagnostics;
using Microsoft.ML;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using static OneDiff.Bench.BenchArgs;

namespace OneDiff.Bench;

/// <summary>
/// Host memory of <c>DiffCaptionTrainer.Fit</c> when the images come as ML.NET <c>MLImage</c>
/// columns (<c>LoadImages</c>, the usual ML.NET pipeline), as encoded bytes (<c>LoadRawImageBytes</c>)
/// or as paths: the Tiny preset for one epoch
/// over N procedural pairs of --size pixels. Prints the process's peak working set; run each
/// case in a fresh process.
/// </summary>
static class FitMemoryBenchmark
{
    public static int Run(string[] args)
    {
        int pairs = int.Parse(Arg(args, "--pairs") ?? "2000");
        int size = int.Parse(Arg(args, "--size") ?? "256");
        string columns = Arg(args, "--columns") ?? "mlimage";
        if (columns is not ("mlimage" or "bytes" or "paths")) { Console.Error.WriteLine("--columns: mlimage, bytes or paths"); return 2; }
        string dir = Path.Combine(Path.GetTempPath(), $"onediff-bench-fit-{pairs}-{size}");
        if (!File.Exists(Path.Combine(dir, "train.jsonl"))) ProceduralPairGenerator.Write(dir, pairs, seed: 1, imageSize: size, testEvery: 0);

        var ml = new MLContext(seed: 1);
        var view = ml.DiffCaptioning().LoadDataset("diffcap", dir, "train");
        var data = columns switch
        {
            "paths" => view,
            // Encoded files as byte vectors, read as the cursor reaches them.
            "bytes" => ml.Transforms.LoadRawImageBytes("A", null, "Image1").Append(ml.Transforms.LoadRawImageBytes("B", null, "Image2")).Fit(view).Transform(view),
            _ => ml.Transforms.LoadImages("A", null, "Image1").Append(ml.Transforms.LoadImages("B", null, "Image2")).Fit(view).Transform(view),
        };
        var trainer = ml.DiffCaptioning().Trainers.OneDiff(new DiffCaptionTrainer.Options
        {
            Preset = "Tiny", StageTwoEpochs = 1, BatchSize = 16, PackReferences = true, Device = "cpu",
            Image1ColumnName = columns == "paths" ? "Image1" : "A", Image2ColumnName = columns == "paths" ? "Image2" : "B",
        });
        var clock = Stopwatch.StartNew();
        using var model = trainer.Fit(data);
        Console.WriteLine($"fit-memory: {pairs:N0} pairs of {size} px as {columns}: {trainer.LossHistory.Count} steps in {clock.Elapsed.TotalSeconds:F1} s; " +
            $"peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20)} MiB");
        return 0;
    }
}
