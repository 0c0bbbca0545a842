export { dashboardStylesheet } from "./assets";
export { operatorPages } from "./operator-routes";
export { portalPages } from "./portal-routes";
