using Microsoft.ML;
using Microsoft.ML.Runtime;
using OneDiff.Data;
using OneDiff.Data.Construction;
using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Readers;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Clip;
using OneDiff.Modeling.Retrieval;
using OneDiff.Modeling.Runtime;
using OneDiff.Modeling.Tokenization;
using TorchSharp;

namespace OneDiff.MLNet;

/// <summary>How <see cref="DiffCaptioningCatalog.MineImagePairs"/> finds pairs, with the paper's
/// band and filters as defaults (section 3.2; docs/diffcap.md).</summary>
public sealed record ImagePairMiningOptions
{
    /// <summary>A CLIPModel folder (openai/clip-vit-large-patch14-336 in the paper): its image tower
    /// pairs the images, its text tower and tokenizer (vocab.json, merges.txt) score each image
    /// against its caption. A CLIPVisionModelWithProjection folder does when <see cref="MinClipScore"/> is null.</summary>
    public required string ClipFolder { get; init; }
    /// <summary>Partners each image may choose (a pair chosen from both sides counts once).</summary>
    public int Neighbors { get; init; } = 1;
    /// <summary>Lowest cosine similarity of a pair. The paper's 0.75: below it "high disparity".</summary>
    public double MinSimilarity { get; init; } = 0.75;
    /// <summary>Similarity from which two images are not paired. The paper's 0.94: above it "near
    /// identity" (duplicates, crops); above 1 lets exact duplicates pair too.</summary>
    public double MaxSimilarity { get; init; } = 0.94;
    /// <summary>Pairs whose captions overlap this much or more are not chosen
    /// (<see cref="CaptionOverlap"/>: content-word Jaccard); above 1 keeps every pair.</summary>
    public double MaxCaptionOverlap { get; init; } = CaptionOverlap.DefaultMax;
    /// <summary>Images whose CLIPScore against their own caption is not over this are left out,
    /// as the paper keeps retrieved images scoring over 40 against their generated caption. The
    /// scale is CLIPScore's (Hessel et al. 2021): 100 x 2.5 x max(cosine, 0), so 40 is a cosine of
    /// 0.16 (docs/diffcap.md argues it). Null: no image-text filter.</summary>
    public double? MinClipScore { get; init; } = 40;
    /// <summary>Images embedded together.</summary>
    public int BatchSize { get; init; } = 64;
    public string Device { get; init; } = "auto";
    /// <summary>Skip (and log) images that do not decode, instead of stopping at the first.</summary>
    public bool SkipBad { get; init; }
    /// <summary>A safetensors file keeping the image embeddings between runs, so that another band or
    /// neighbour count costs only the search: read when it was made from the same images (ids and
    /// paths) and the same CLIP, written when absent; made from others, it is an error.</summary>
    public string? EmbeddingsFile { get; init; }

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> for a value out of range, a
    /// <see cref="DirectoryNotFoundException"/> for a CLIP folder that is not there.</summary>
    public void Check()
    {
        if (Neighbors < 1) throw new ArgumentOutOfRangeException(null, $"{nameof(Neighbors)} must be 1 or more, not {Neighbors}");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(null, $"{nameof(BatchSize)} must be 1 or more, not {BatchSize}");
        if (!(MinSimilarity < MaxSimilarity))
            throw new ArgumentOutOfRangeException(null, $"the similarity band [{MinSimilarity}, {MaxSimilarity}) is empty");
        if (!(MaxCaptionOverlap > 0)) throw new ArgumentOutOfRangeException(null, $"{nameof(MaxCaptionOverlap)} must be above 0 (above 1 keeps every pair), not {MaxCaptionOverlap}");
        if (MinClipScore is < 0 or > 250) throw new ArgumentOutOfRangeException(null, $"{nameof(MinClipScore)} is on CLIPScore's scale, 0 to 250, not {MinClipScore}");
        if (!Directory.Exists(ClipFolder)) throw new DirectoryNotFoundException($"{nameof(ClipFolder)} not found: {ClipFolder}");
    }
}

/// <summary>An image left out because its caption does not describe it (CLIPScore not over the minimum).</summary>
public sealed record ImageUnlikeCaption(string Id, string Image, string Caption, double ClipScore);

/// <summary>A pair in the band not chosen because its captions say the same.</summary>
public sealed record PairWithAlikeCaptions(string Id, double Similarity, double CaptionOverlap);

/// <summary>The candidates of <see cref="DiffCaptioningCatalog.MineImagePairs"/> and what its filters left out, with their scores.</summary>
public sealed record MinedPairs(List<DiffCapCandidate> Candidates, List<ImageUnlikeCaption> ImagesUnlikeCaptions, List<PairWithAlikeCaptions> PairsWithAlikeCaptions);

public sealed partial class DiffCaptioningCatalog
{
    /// <summary>
    /// The paper's real pairs by CLIP retrieval: embeds every captioned image with CLIP's image
    /// tower, leaves out the images their captions do not describe (CLIPScore), and pairs each
    /// image with its most similar others inside the similarity band whose captions do not say the
    /// same. The candidates, written with <see cref="DiffCapCandidates.Write"/>, are what a chat
    /// model turns into difference captions (from the two image captions) to make DiffCap pairs.
    /// </summary>
    public MinedPairs MineImagePairs(IDataView images, ImagePairMiningOptions options, string imageColumnName = "Image", string captionColumnName = "Caption") =>
        MineImagePairs(ImageCaptionTable.Read(images ?? throw new ArgumentNullException(nameof(images)), imageColumnName, captionColumnName, "the image table"), options);

    /// <summary>The same over captioned images given as a list (ids kept in the candidates' ids);
    /// <paramref name="cancel"/> stops it between batches of images.</summary>
    public MinedPairs MineImagePairs(IReadOnlyList<ImageCaption> images, ImagePairMiningOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(options);
        options.Check();
        using var ch = Host.Start("MineImagePairs");
        var device = ResolveDevice(options.Device);
        string imagesPrint = Fingerprint(images.SelectMany(i => new[] { i.Id, i.Image }));
        string clipPrint = Fingerprint([File.ReadAllText(Path.Combine(options.ClipFolder, "config.json")),
            .. Directory.GetFiles(options.ClipFolder, "*.safetensors").Order(StringComparer.Ordinal).Select(f => $"{Path.GetFileName(f)} {new FileInfo(f).Length}")]);
        if (options.EmbeddingsFile is { } saved && File.Exists(saved))
        {
            using var file = SafetensorsFile.Open(saved);
            if (file.Metadata.GetValueOrDefault("images") != imagesPrint || file.Metadata.GetValueOrDefault("clip") != clipPrint)
                throw new InvalidDataException($"{saved}: the embeddings were made from other images or another CLIP; delete the file or name another");
            using var stored = file.Read("image_embeds", torch.ScalarType.Float32, device.ToTorch());
            long[] indices;
            using (var keptTensor = file.Read("kept")) indices = keptTensor.data<long>().ToArray();
            ch.Info(MessageSensitivity.None, $"read the embeddings of {indices.Length} of {images.Count} images from {saved}");
            return Pair(stored, indices.Select(i => images[(int)i]).ToList(), options, ch);
        }

        using var clip = ClipVisionModelWithProjection.FromFolder(options.ClipFolder, device.ToTorch(), device.DefaultDtype);
        var processor = new ClipImageProcessor(clip.Config.ImageSize);
        var report = new DataReport(options.SkipBad ? BadInputMode.Skip : BadInputMode.Error);
        var kept = new List<ImageCaption>(images.Count);
        var keptIndices = new List<long>(images.Count);
        var blocks = new List<torch.Tensor>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int embedded = 0;
        using var progress = Host.StartProgressChannel("OneDiff mining");
        progress.SetHeader(new ProgressHeader(["images"]), e => e.SetProgress(0, Volatile.Read(ref embedded), images.Count));
        // A batch is decoded on worker threads while the one before it is embedded.
        (List<ImageCaption> Batch, float[][] Pixels, DataProblem?[] Problems) Decode(int start)
        {
            var batch = Enumerable.Range(start, Math.Min(options.BatchSize, images.Count - start)).Select(i => images[i]).ToList();
            var pixels = new float[batch.Count][];
            var problems = new DataProblem?[batch.Count];
            Parallel.For(0, batch.Count, i =>
            {
                try { pixels[i] = processor.Process(ImageInput.FromPath(batch[i].Image).Decode()); }
                catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException or UnauthorizedAccessException)
                {
                    problems[i] = new DataProblem($"id {batch[i].Id}", batch[i].Image, e.Message.Replace(batch[i].Image + ": ", ""));
                }
            });
            return (batch, pixels, problems);
        }
        try
        {
            var next = images.Count > 0 ? Task.Run(() => Decode(0)) : null;
            for (int start = 0; start < images.Count; start += options.BatchSize)
            {
                cancel.ThrowIfCancellationRequested();
                var (batch, pixels, problems) = next!.GetAwaiter().GetResult();
                int following = start + options.BatchSize;
                next = following < images.Count ? Task.Run(() => Decode(following)) : null;
                var good = new List<float[]>();
                for (int i = 0; i < batch.Count; i++)
                {
                    if (problems[i] is { } p) { report.Problem(p.Record, p.File, p.Message); continue; }
                    good.Add(pixels[i]);
                    kept.Add(batch[i]);
                    keptIndices.Add(start + i);
                }
                if (good.Count == 0) continue;
                using (torch.no_grad())
                using (var scope = torch.NewDisposeScope())
                {
                    var x = HostToDevice.Images(good, processor.Size, device.DefaultDtype, device.ToTorch());
                    blocks.Add(clip.NormalizedImageEmbeds(x).to(torch.ScalarType.Float32).MoveToOuterDisposeScope());
                }
                int done = Math.Min(start + options.BatchSize, images.Count);
                Volatile.Write(ref embedded, done);
                if (done == images.Count || done / options.BatchSize % 50 == 0)
                    ch.Info(MessageSensitivity.None, $"embedded {done}/{images.Count} images ({done / Math.Max(1e-9, clock.Elapsed.TotalSeconds):F1}/s)");
            }
            foreach (var p in report.Skipped) ch.Warning(MessageSensitivity.None, $"skipped {p}");
            if (kept.Count < 2) throw new InvalidOperationException($"pair mining needs at least two readable images, {kept.Count} given");

            using var embeddings = torch.cat(blocks, 0);
            if (options.EmbeddingsFile is { } path)
            {
                using var cpu = embeddings.cpu();
                using var indices = torch.tensor(keptIndices.ToArray());
                SafetensorsWriter.Save(path, [new("image_embeds", cpu), new("kept", indices)],
                    new Dictionary<string, string> { ["images"] = imagesPrint, ["clip"] = clipPrint });
                ch.Info(MessageSensitivity.None, $"kept the embeddings in {path}");
            }
            return Pair(embeddings, kept, options, ch);
        }
        finally
        {
            foreach (var b in blocks) b.Dispose();
        }
    }

    MinedPairs Pair(torch.Tensor embeddings, List<ImageCaption> kept, ImagePairMiningOptions options, IChannel ch)
    {
        if (options.MinClipScore is not { } minScore) return PairFiltered(embeddings, kept, options, ch);
        var (keep, unlike) = LeaveOutUnlikeCaptions(kept, ClipCosines(embeddings, kept, options), minScore);
        ch.Info(MessageSensitivity.None, $"{unlike.Count} of {kept.Count} images left out: CLIPScore against their caption not over {minScore}");
        using var index = torch.tensor(keep.Select(i => (long)i).ToArray(), device: embeddings.device);
        using var filtered = embeddings.index_select(0, index);
        return PairFiltered(filtered, keep.Select(i => kept[i]).ToList(), options, ch) with { ImagesUnlikeCaptions = unlike };
    }

    /// <summary>The images whose CLIPScore against their caption is over <paramref name="minScore"/>
    /// (their indices), and the others with their scores.</summary>
    internal static (List<int> Keep, List<ImageUnlikeCaption> Unlike) LeaveOutUnlikeCaptions(IReadOnlyList<ImageCaption> images, IReadOnlyList<double> cosines, double minScore)
    {
        var keep = new List<int>();
        var unlike = new List<ImageUnlikeCaption>();
        for (int i = 0; i < images.Count; i++)
        {
            double score = ClipScore(cosines[i]);
            if (score > minScore) keep.Add(i);
            else unlike.Add(new ImageUnlikeCaption(images[i].Id, images[i].Image, images[i].Caption, Math.Round(score, 2)));
        }
        return (keep, unlike);
    }

    /// <summary>The pairs in the band whose captions do not say the same (known embeddings in tests).</summary>
    internal static MinedPairs PairFiltered(torch.Tensor embeddings, List<ImageCaption> kept, ImagePairMiningOptions options, IChannel ch)
    {
        var words = kept.Select(k => CaptionOverlap.Words(k.Caption)).ToList();
        var alike = new Dictionary<(int, int), PairWithAlikeCaptions>();
        bool Accept(SimilarPair p)
        {
            double overlap = CaptionOverlap.Of(words[p.First], words[p.Second]);
            if (overlap < options.MaxCaptionOverlap) return true;
            var (a, b) = p.First < p.Second ? (p.First, p.Second) : (p.Second, p.First);
            alike[(a, b)] = new PairWithAlikeCaptions($"{kept[a].Id}~{kept[b].Id}", Math.Round(p.Similarity, 6), Math.Round(overlap, 4));
            return false;
        }
        var pairs = SimilarPairs.Find(embeddings, options.Neighbors, options.MinSimilarity, options.MaxSimilarity,
            accept: options.MaxCaptionOverlap > 1 ? null : Accept);
        ch.Info(MessageSensitivity.None, $"{pairs.Count} pair(s) with similarity in [{options.MinSimilarity}, {options.MaxSimilarity}) among {kept.Count} images; " +
            $"{alike.Count} pair(s) in the band not chosen: captions overlapping {options.MaxCaptionOverlap} or more");
        var alikePairs = alike.OrderBy(p => p.Key).Select(p => p.Value).ToList();
        return new MinedPairs(pairs.Select(p => new DiffCapCandidate(kept[p.First], kept[p.Second], p.Similarity)).ToList(), [], alikePairs);
    }

    /// <summary>The cosine of each image's embedding with its caption's, by CLIP's text tower and
    /// tokenizer from the same folder.</summary>
    double[] ClipCosines(torch.Tensor imageEmbeds, List<ImageCaption> kept, ImagePairMiningOptions options)
    {
        var device = ResolveDevice(options.Device);
        using var text = ClipTextModelWithProjection.FromFolder(options.ClipFolder, device.ToTorch(), device.DefaultDtype);
        var tokenizer = ClipTokenizer.FromFolder(options.ClipFolder, text.Config.MaxPositionEmbeddings);
        var cosines = new double[kept.Count];
        for (int start = 0; start < kept.Count; start += options.BatchSize)
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            int count = Math.Min(options.BatchSize, kept.Count - start);
            var ids = kept.Skip(start).Take(count).Select(k => tokenizer.Encode(k.Caption)).ToList();
            int width = ids.Max(i => i.Length);
            var flat = new long[count * width];
            var mask = new long[count * width];
            for (int r = 0; r < count; r++)
                for (int c = 0; c < width; c++)
                {
                    // Padded with the end token, as Hugging Face pads CLIP; the mask hides it.
                    flat[r * width + c] = c < ids[r].Length ? ids[r][c] : tokenizer.EndId;
                    mask[r * width + c] = c < ids[r].Length ? 1 : 0;
                }
            var idTensor = torch.tensor(flat, device: device.ToTorch()).view(count, width);
            var maskTensor = torch.tensor(mask, device: device.ToTorch()).view(count, width);
            var textEmbeds = text.NormalizedTextEmbeds(idTensor, maskTensor).to(torch.ScalarType.Float32);
            var cosine = imageEmbeds.narrow(0, start, count).to(torch.ScalarType.Float32).mul(textEmbeds).sum(-1).cpu();
            var values = cosine.data<float>().ToArray();
            for (int r = 0; r < count; r++) cosines[start + r] = values[r];
        }
        return cosines;
    }

    /// <summary>CLIPScore (Hessel et al. 2021) of a cosine similarity, x 100 as papers report it.</summary>
    public static double ClipScore(double cosine) => 100 * 2.5 * Math.Max(cosine, 0);

    static string Fingerprint(IEnumerable<string> parts)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var part in parts) { sha.AppendData(System.Text.Encoding.UTF8.GetBytes(part)); sha.AppendData([0]); }
        return Convert.ToHexString(sha.GetHashAndReset());
    }
}
