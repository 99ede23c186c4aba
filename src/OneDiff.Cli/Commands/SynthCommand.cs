using System.CommandLine;
using System.Diagnostics;
using OneDiff.Data.Synthetic;

namespace OneDiff.Cli.Commands;

/// <summary><c>onediff synth --out DIR --pairs N --seed S</c>: the procedural image-difference dataset.</summary>
public static class SynthCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "output folder (images/, train.jsonl, test.jsonl)", Required = true };
        var pairs = new Option<int>("--pairs") { Description = "number of pairs", DefaultValueFactory = _ => 1000 };
        pairs.Validators.Add(r => { if (r.GetValueOrDefault<int>() <= 0) r.AddError("--pairs must be positive"); });
        var seed = new Option<int>("--seed") { Description = "random seed (same seed, same dataset)", DefaultValueFactory = _ => 1 };
        var size = new Option<int>("--size") { Description = "image side in pixels", DefaultValueFactory = _ => 128 };
        size.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 16) r.AddError("--size must be at least 16 pixels"); });
        var testEvery = new Option<int>("--test-every") { Description = "hold out every N-th pair as test (0: none)", DefaultValueFactory = _ => 5 };
        testEvery.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--test-every must not be negative"); });
        var command = new Command("synth", "Generate the procedural image-difference dataset (shapes with labelled changes and no-change distractors)")
        { output, pairs, seed, size, testEvery };
        CliAction.Set(command, (parse, cancel) =>
        {
            int n = parse.GetValue(pairs);
            var sw = Stopwatch.StartNew();
            var (train, test) = ProceduralPairGenerator.Write(parse.GetValue(output)!, n, parse.GetValue(seed), parse.GetValue(size), parse.GetValue(testEvery), cancel);
            Console.WriteLine($"wrote {n} pairs ({train} train, {test} test) to {parse.GetValue(output)} in {sw.Elapsed.TotalSeconds:F1} s");
            return ExitCodes.Success;
        });
        return command;
    }
}
