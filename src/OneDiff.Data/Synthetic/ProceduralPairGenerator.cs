using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Localization;

namespace OneDiff.Data.Synthetic;

/// <summary>A generated pair: both scenes, the change, every phrasing of it, and where it is
/// (each changed object's box in both images; none for a pair without change).</summary>
public sealed record GeneratedPair(string Id, Scene Before, Scene After, ChangeType Change, IReadOnlyList<string> Captions, IReadOnlyList<ChangeLocation> Locations);

/// <summary>
/// The project's embedded default dataset: 2-D scenes of shapes (shape, colour, size, position; an
/// optional textured background) in pairs with one labelled change (add, remove, move, recolour,
/// resize, swap), two at once, or none (a distractor: a small global shift or a brightness change
/// only). Several phrasings per change are all kept as references. Deterministic by seed.
/// </summary>
public sealed class ProceduralPairGenerator
{
    public const string Task = "synthetic";
    public const string Prompt = "Describe the change between the two scenes, or say that nothing changed.";

    static readonly string[] Colors = SceneRenderer.Palette.Keys.ToArray();
    static readonly ChangeType[] Changes =
        [ChangeType.None, ChangeType.Add, ChangeType.Remove, ChangeType.Move, ChangeType.Recolour, ChangeType.Resize, ChangeType.Swap, ChangeType.Multiple];

    static readonly string[] NoChange =
    [
        "nothing has changed", "the two scenes are the same", "there is no difference", "no change",
        "the scenes are identical", "nothing is different", "everything stayed the same", "nothing moved or changed",
    ];

    public int ImageSize { get; init; } = 128;
    /// <summary>Share of scenes with a textured (noisy) background.</summary>
    public double TexturedShare { get; init; } = 0.3;
    const int Grid = 4;

    readonly Random _rng;
    readonly int _seed;

    public ProceduralPairGenerator(int seed) { _seed = seed; _rng = new Random(seed); }

    public IEnumerable<GeneratedPair> Generate(int count)
    {
        for (int i = 0; i < count; i++) yield return Next($"{i:D6}", Changes[i % Changes.Length]);
    }

    (int X, int Y) Cell(int index)
    {
        int cell = ImageSize / Grid;
        return (index % Grid * cell + cell / 2, index / Grid * cell + cell / 2);
    }

    List<(SceneObject Obj, int Cell)> RandomScene(int objects)
    {
        var cells = Enumerable.Range(0, Grid * Grid).OrderBy(_ => _rng.Next()).Take(objects).ToList();
        var used = new HashSet<string>();
        var list = new List<(SceneObject, int)>();
        foreach (var cell in cells)
        {
            SceneObject o;
            do
            {
                var (x, y) = Cell(cell);
                o = new SceneObject((ShapeKind)_rng.Next(3), Colors[_rng.Next(Colors.Length)], _rng.Next(2) == 1, x, y);
            } while (!used.Add(o.Name));
            list.Add((o, cell));
        }
        return list;
    }

    GeneratedPair Next(string id, ChangeType change)
    {
        bool textured = _rng.NextDouble() < TexturedShare;
        var scene = RandomScene(_rng.Next(2, 5));
        var before = new Scene(ImageSize, scene.Select(s => s.Obj).ToList(), textured);
        var after = scene.ToList();
        var captions = new List<string>();
        var locations = new List<ChangeLocation>();
        int shiftX = 0, shiftY = 0, brightness = 0;
        if (change == ChangeType.None)
        {
            if (_rng.Next(2) == 0) { shiftX = _rng.Next(-2, 3); shiftY = _rng.Next(-2, 3); }
            else brightness = _rng.Next(2) == 0 ? -12 : 12;
            // Three of several phrasings, so no-change references differ between pairs as real ones do.
            captions.AddRange(NoChange.OrderBy(_ => _rng.Next()).Take(3));
        }
        else if (change == ChangeType.Multiple)
        {
            var first = Apply(after, PickSingle());
            var second = Apply(after, PickSingle(), exclude: first.Touched);
            captions.AddRange(first.Captions.Zip(second.Captions, (a, b) => $"{a} and {b}"));
            locations.AddRange(first.Locations.Concat(second.Locations));
        }
        else
        {
            var applied = Apply(after, change);
            captions.AddRange(applied.Captions);
            locations.AddRange(applied.Locations);
        }
        var afterScene = new Scene(ImageSize, after.Select(s => s.Obj).ToList(), textured, shiftX, shiftY, brightness);
        return new GeneratedPair(id, before, afterScene, change, captions, locations);
    }

    /// <summary>The pixels an object covers: its centre plus and minus its size, in both axes
    /// (circle, square and triangle alike).</summary>
    PixelBox Box(SceneObject o)
    {
        int r = o.Radius(ImageSize);
        return new PixelBox(Math.Max(0, o.X - r), Math.Max(0, o.Y - r), Math.Min(ImageSize, o.X + r + 1), Math.Min(ImageSize, o.Y + r + 1));
    }

    ChangeType PickSingle() => Changes[1 + _rng.Next(6)];

    sealed record Applied(IReadOnlyList<string> Captions, HashSet<string> Touched, IReadOnlyList<ChangeLocation> Locations);

    /// <summary>Applies one change to the scene list in place; returns its phrasings.</summary>
    Applied Apply(List<(SceneObject Obj, int Cell)> scene, ChangeType change, HashSet<string>? exclude = null)
    {
        exclude ??= [];
        var free = Enumerable.Range(0, Grid * Grid).Except(scene.Select(s => s.Cell)).OrderBy(_ => _rng.Next()).ToList();
        var candidates = scene.Select((s, i) => (s, i)).Where(t => !exclude.Contains(t.s.Obj.Name)).ToList();
        if (change is ChangeType.Remove or ChangeType.Swap && scene.Count < 2) change = ChangeType.Add;
        if (change != ChangeType.Add && candidates.Count == 0) change = ChangeType.Add;
        if (change == ChangeType.Swap && candidates.Count < 2) change = ChangeType.Recolour;
        string size(SceneObject o) => o.Large ? "large" : "small";
        switch (change)
        {
            case ChangeType.Add:
                {
                    var names = scene.Select(s => s.Obj.Name).ToHashSet();
                    SceneObject o;
                    var (x, y) = Cell(free[0]);
                    do o = new SceneObject((ShapeKind)_rng.Next(3), Colors[_rng.Next(Colors.Length)], _rng.Next(2) == 1, x, y); while (names.Contains(o.Name));
                    scene.Add((o, free[0]));
                    return new([$"a {size(o)} {o.Name} has appeared", $"there is a new {o.Name}", $"someone added a {o.Name}"], [o.Name],
                        [new("add", null, Box(o))]);
                }
            case ChangeType.Remove:
                {
                    var (t, i) = candidates[_rng.Next(candidates.Count)];
                    scene.RemoveAt(i);
                    return new([$"the {t.Obj.Name} is gone", $"the {t.Obj.Name} has disappeared", $"there is no longer a {t.Obj.Name}"], [t.Obj.Name],
                        [new("remove", Box(t.Obj), null)]);
                }
            case ChangeType.Move:
                {
                    var (t, i) = candidates[_rng.Next(candidates.Count)];
                    int to = free[0];
                    var (x, y) = Cell(to);
                    string dir = Math.Abs(x - t.Obj.X) >= Math.Abs(y - t.Obj.Y) ? (x > t.Obj.X ? "right" : "left") : (y > t.Obj.Y ? "down" : "up");
                    scene[i] = (t.Obj with { X = x, Y = y }, to);
                    return new([$"the {t.Obj.Name} moved {dir}", $"the {t.Obj.Name} has been moved to the {dir}", $"the {t.Obj.Name} is now further {dir}"], [t.Obj.Name],
                        [new("move", Box(t.Obj), Box(scene[i].Obj))]);
                }
            case ChangeType.Recolour:
                {
                    var (t, i) = candidates[_rng.Next(candidates.Count)];
                    var names = scene.Select(s => s.Obj.Name).ToHashSet();
                    string color;
                    do color = Colors[_rng.Next(Colors.Length)]; while (color == t.Obj.Color || names.Contains($"{color} {t.Obj.Shape.ToString().ToLowerInvariant()}"));
                    var n = t.Obj with { Color = color };
                    scene[i] = (n, t.Cell);
                    string shape = t.Obj.Shape.ToString().ToLowerInvariant();
                    return new([$"the {t.Obj.Name} turned {color}", $"the {t.Obj.Name} is now {color}", $"the {shape} changed from {t.Obj.Color} to {color}"], [t.Obj.Name, n.Name],
                        [new("recolour", Box(t.Obj), Box(n))]);
                }
            case ChangeType.Resize:
                {
                    var (t, i) = candidates[_rng.Next(candidates.Count)];
                    scene[i] = (t.Obj with { Large = !t.Obj.Large }, t.Cell);
                    string how = t.Obj.Large ? "smaller" : "bigger";
                    return new([$"the {t.Obj.Name} became {how}", $"the {t.Obj.Name} is now {how}", $"the {t.Obj.Name} got {how}"], [t.Obj.Name],
                        [new("resize", Box(t.Obj), Box(scene[i].Obj))]);
                }
            case ChangeType.Swap:
                {
                    var picks = candidates.OrderBy(_ => _rng.Next()).Take(2).ToList();
                    var (a, ia) = picks[0];
                    var (b, ib) = picks[1];
                    scene[ia] = (a.Obj with { X = b.Obj.X, Y = b.Obj.Y }, b.Cell);
                    scene[ib] = (b.Obj with { X = a.Obj.X, Y = a.Obj.Y }, a.Cell);
                    return new([$"the {a.Obj.Name} and the {b.Obj.Name} swapped places", $"the {a.Obj.Name} and the {b.Obj.Name} switched positions",
                        $"the {b.Obj.Name} is now where the {a.Obj.Name} was"], [a.Obj.Name, b.Obj.Name],
                        [new("swap", Box(a.Obj), Box(scene[ia].Obj)), new("swap", Box(b.Obj), Box(scene[ib].Obj))]);
                }
            default: throw new ArgumentOutOfRangeException(nameof(change));
        }
    }

    /// <summary>A single-image caption of a scene ("a small red circle and a large blue square"),
    /// the material of Coupled Sample Training.</summary>
    public static string Describe(Scene scene)
    {
        var parts = scene.Objects.OrderBy(o => o.Y / (scene.Size / 4)).ThenBy(o => o.X).Select(o => $"a {(o.Large ? "large" : "small")} {o.Name}").ToList();
        return parts.Count switch
        {
            0 => "an empty grey scene",
            1 => parts[0],
            _ => string.Join(", ", parts.Take(parts.Count - 1)) + " and " + parts[^1],
        };
    }

    /// <summary>Renders the pairs as PNGs under <paramref name="folder"/>/images and writes
    /// train.jsonl and test.jsonl (every <paramref name="testEvery"/>-th pair is held out).</summary>
    public static (int Train, int Test) Write(string folder, int pairs, int seed, int imageSize = 128, int testEvery = 5, CancellationToken cancel = default)
    {
        var generator = new ProceduralPairGenerator(seed) { ImageSize = imageSize };
        var generated = generator.Generate(pairs).ToList();
        var images = Path.Combine(folder, "images");
        Directory.CreateDirectory(images);
        var records = new DiffCapRecord[generated.Count];
        Parallel.For(0, generated.Count, new ParallelOptions { CancellationToken = cancel }, i =>
        {
            var p = generated[i];
            string a = Path.Combine(images, $"{p.Id}_a.png"), b = Path.Combine(images, $"{p.Id}_b.png");
            ImageDecoder.SavePng(SceneRenderer.Render(p.Before, seed * 7919 + i * 2), a);
            ImageDecoder.SavePng(SceneRenderer.Render(p.After, seed * 7919 + i * 2 + 1), b);
            records[i] = new DiffCapRecord(p.Id, a, b, Prompt, p.Captions, Task, p.Change.ToString().ToLowerInvariant(), $"synthetic/seed{seed}", p.Locations);
        });
        var test = records.Where((_, i) => testEvery > 0 && i % testEvery == testEvery - 1).ToList();
        var train = records.Where((_, i) => !(testEvery > 0 && i % testEvery == testEvery - 1)).ToList();
        DiffCapJsonl.Write(Path.Combine(folder, "train.jsonl"), train);
        DiffCapJsonl.Write(Path.Combine(folder, "test.jsonl"), test);
        // Single-image captions of the training pairs' first images, in LLaVA's JSON format (stage I).
        var singles = generated.Where((_, i) => !(testEvery > 0 && i % testEvery == testEvery - 1)).Select(p => new
        {
            id = p.Id,
            image = $"images/{p.Id}_a.png",
            conversations = new object[]
            {
                new { from = "human", value = "Describe the image.\n<image>" },
                new { from = "gpt", value = Describe(p.Before) },
            },
        });
        File.WriteAllText(Path.Combine(folder, "captions.json"), System.Text.Json.JsonSerializer.Serialize(singles));
        return (train.Count, test.Count);
    }
}
