using System.Diagnostics;
using System.Text.Json;
using OneDiff.Metrics;
using static OneDiff.Bench.BenchArgs;

namespace OneDiff.Bench;

/// <summary>
/// Times the full pycocoevalcap-equivalent evaluation (PTB tokenisation, BLEU, METEOR, ROUGE-L,
/// CIDEr-D) on a deterministic synthetic set of difference captions: by default 10,000 items with
/// 5 references each. Prints the median of several runs after a warm-up run. --write-input FILE
/// writes the set as {"refs","cands"} JSON so the Python/Java reference can time the same input.
/// </summary>
public static class MetricsBenchmark
{
    public static int Run(string[] args)
    {
        int items = Arg(args, "--items", 10_000), refs = Arg(args, "--refs", 5), repeats = Arg(args, "--repeats", 5);
        var data = Generate(items, refs, seed: 7);
        if (Arg(args, "--write-input") is { } path)
        {
            var doc = new
            {
                refs = data.ToDictionary(d => d.Id, d => d.References),
                cands = data.ToDictionary(d => d.Id, d => d.Candidate),
            };
            File.WriteAllText(path, JsonSerializer.Serialize(doc));
            Console.WriteLine($"wrote {path}");
        }

        if (args.Contains("--profile")) Profile(data);
        var evaluator = new CaptionEvaluator();
        var warm = Stopwatch.StartNew();
        var result = evaluator.Evaluate(data);
        warm.Stop();
        var times = new List<double>();
        if (repeats == 0) { Console.WriteLine($"one run: {warm.Elapsed.TotalSeconds:F3} s"); return 0; }
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            evaluator.Evaluate(data);
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        double median = times[times.Count / 2];
        var s = result.Corpus;
        Console.WriteLine($"items {items}, references per item {refs}, cores {Environment.ProcessorCount}");
        Console.WriteLine($"first run (includes loading WordNet data and JIT): {warm.Elapsed.TotalSeconds:F3} s");
        Console.WriteLine($"median of {repeats} runs: {median:F3} s  (min {times[0]:F3}, max {times[^1]:F3})");
        Console.WriteLine($"Bleu_4 {s.Bleu4:F6}  METEOR {s.Meteor:F6}  ROUGE_L {s.RougeL:F6}  CIDEr {s.Cider:F6}");
        return 0;
    }

    static void Profile(List<CaptionItem> data)
    {
        var sw = Stopwatch.StartNew();
        var m = OneDiff.Metrics.Meteor.MeteorResources.English;
        Console.WriteLine($"load wordnet {sw.Elapsed.TotalSeconds:F3}");
        for (int rep = 0; rep < 2; rep++)
        {
            sw.Restart();
            var tok = data.Select(d => d with { Candidate = OneDiff.Metrics.Tokenization.CocoCaptionTokenizer.Tokenize(d.Candidate), References = d.References.Select(OneDiff.Metrics.Tokenization.CocoCaptionTokenizer.Tokenize).ToArray() }).ToList();
            Console.WriteLine($"tokenize (1 thread) {sw.Elapsed.TotalSeconds:F3}");
            var pairs = tok.Select(i => (i.Candidate, i.References)).ToList();
            sw.Restart(); OneDiff.Metrics.Scorers.BleuScorer.Score(pairs); Console.WriteLine($"bleu {sw.Elapsed.TotalSeconds:F3}");
            sw.Restart(); OneDiff.Metrics.Scorers.CiderDScorer.Score(pairs); Console.WriteLine($"cider {sw.Elapsed.TotalSeconds:F3}");
            sw.Restart(); foreach (var p in pairs) OneDiff.Metrics.Scorers.RougeLScorer.Score(p.Candidate, p.References); Console.WriteLine($"rouge {sw.Elapsed.TotalSeconds:F3}");
            var ms = new OneDiff.Metrics.Meteor.MeteorScorer();
            sw.Restart(); foreach (var p in pairs) ms.Statistics(p.Candidate, p.References); Console.WriteLine($"meteor (1 thread) {sw.Elapsed.TotalSeconds:F3}");
        }
    }

    static readonly string[] Colors = ["red", "blue", "green", "white", "black", "grey", "yellow", "silver", "brown", "orange"];
    static readonly string[] Objects = ["car", "truck", "person", "man", "woman", "bicycle", "van", "sign", "cone", "bus", "motorcycle", "umbrella"];
    static readonly string[] Places = ["in the parking lot", "on the left", "near the building", "at the top right", "by the road", "in the corner", "next to the tree", "on the sidewalk"];
    static readonly string[] Templates =
    [
        "The {c} {o} is gone.", "A {c} {o} has appeared {p}.", "the {c} {o} moved {p}", "There is no longer a {c} {o} {p}.",
        "The {o} {p} changed from {c} to {c2}.", "a {c} {o} was added {p}", "The {c} {o} isn't there anymore.",
        "There's a new {o} {p}, and it's {c}.", "Someone removed the {c} {o} ({p}).", "the {o} {p} is now {c2}",
        "no {o} can be seen {p} -- it left", "two {c} {o}s are parked {p}",
    ];

    /// <summary>Deterministic caption sets: references and a candidate that shares some of them.</summary>
    public static List<CaptionItem> Generate(int items, int refs, int seed)
    {
        var rng = new Random(seed);
        string Sentence()
        {
            string t = Templates[rng.Next(Templates.Length)];
            return t.Replace("{c2}", Colors[rng.Next(Colors.Length)]).Replace("{c}", Colors[rng.Next(Colors.Length)])
                .Replace("{o}", Objects[rng.Next(Objects.Length)]).Replace("{p}", Places[rng.Next(Places.Length)]);
        }
        var list = new List<CaptionItem>(items);
        for (int i = 0; i < items; i++)
        {
            var r = Enumerable.Range(0, refs).Select(_ => Sentence()).ToArray();
            string cand = rng.NextDouble() < 0.3 ? r[rng.Next(refs)] : Sentence();
            list.Add(new CaptionItem($"{i}", cand, r));
        }
        return list;
    }
}
