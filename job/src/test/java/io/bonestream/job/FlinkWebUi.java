package io.bonestream.job;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.Keys;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * Flink's web UI in a real headless Chromium, driven through Debian's chromedriver (nothing is
 * downloaded): open a job vertex's Metrics tab and list the metrics its "Add metric" picker
 * offers, as an operator would.
 */
final class FlinkWebUi implements AutoCloseable {
  private final WebDriver driver;
  private final String base;

  FlinkWebUi(HeadlessChromium chromium, String baseUrl, Path profile) {
    ChromeOptions o = new ChromeOptions();
    o.setBinary(chromium.binary().toString());
    o.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
        "--window-size=1400,1000", "--user-data-dir=" + profile);
    ChromeDriverService service = new ChromeDriverService.Builder()
        .usingDriverExecutable(chromium.driver().toFile()).usingAnyFreePort().build();
    this.driver = new ChromeDriver(service, o);
    this.base = baseUrl;
  }

  /** The metric names the Metrics tab of a vertex offers (typed filter {@code filter}). */
  List<String> vertexMetrics(String jobId, String vertexId, String filter) {
    String url = base + "/#/job/running/" + jobId + "/overview/" + vertexId + "/metrics";
    if (!url.equals(driver.getCurrentUrl())) { // a later lookup types into the picker already open
      driver.get(url);
    }
    WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(60));
    // the web UI's metric store fills on its first request ("No Available Metric" until then):
    // looked for every second, the page loaded again every 5 s, for at most a minute
    for (int attempt = 1; driver.findElements(By.cssSelector("nz-select")).isEmpty() && attempt <= 60; attempt++) {
      try {
        Thread.sleep(1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      if (attempt % 5 == 0) {
        driver.navigate().refresh();
      }
    }
    WebElement select = wait.until(ExpectedConditions.elementToBeClickable(By.cssSelector("nz-select")));
    select.click();
    WebElement input = wait.until(ExpectedConditions.presenceOfElementLocated(
        By.cssSelector("nz-select input")));
    input.sendKeys(Keys.chord(Keys.CONTROL, "a"), Keys.DELETE); // what an earlier lookup typed
    input.sendKeys(filter);
    wait.until(d -> !d.findElements(By.cssSelector("nz-option-item")).isEmpty());
    List<String> out = new ArrayList<>();
    for (WebElement e : driver.findElements(By.cssSelector("nz-option-item"))) {
      String t = e.getAttribute("title");
      out.add(t == null || t.isBlank() ? e.getText() : t);
    }
    return out;
  }

  /**
   * Picks the first offered metric of the open picker and shows it as a number in a big card;
   * returns the card's text (the metric's id and its current value).
   */
  String addFirstOffered() {
    driver.findElements(By.cssSelector("nz-option-item")).get(0).click();
    WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(30));
    driver.findElement(By.tagName("body")).sendKeys(Keys.ESCAPE);
    WebElement numeric = wait.until(ExpectedConditions.elementToBeClickable(
        By.xpath("//*[normalize-space(text())='Numeric']")));
    numeric.click();
    WebElement big = wait.until(ExpectedConditions.elementToBeClickable(By.xpath("//*[normalize-space(text())='Big']")));
    big.click();
    // the card redraws as a number: "<metric id> Big Small <value>"
    java.util.regex.Pattern card = java.util.regex.Pattern.compile("\\sBig\\s+Small\\s+[0-9.]+\\s");
    try {
      wait.until(d -> card.matcher(text()).find());
    } catch (org.openqa.selenium.TimeoutException e) {
      // returned as it is: the caller's assertion shows the page
    }
    return text();
  }

  private String text() {
    return (String) ((JavascriptExecutor) driver).executeScript("return document.body.innerText");
  }

  void screenshot(Path png) throws Exception {
    Files.createDirectories(png.getParent());
    Files.write(png, ((TakesScreenshot) driver).getScreenshotAs(OutputType.BYTES));
  }

  String page() {
    return driver.getPageSource();
  }

  @Override
  public void close() {
    driver.quit();
  }
}
